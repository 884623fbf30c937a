// Package keepalived converts a keepalived configuration (keepalived.conf and the files it
// includes, optionally with the haproxy.cfg beside it) into halo.yaml.
//
// It has two halves. Parse reads keepalived's configuration language the way keepalived
// itself does (lib/parser.c): comments with '#' or '!' anywhere outside double quotes,
// lines split at '{' and '}' so that several blocks may share a line, a block's '{' on the
// keyword's line or the next, double-quoted words, `include` with globs relative to the
// including file, single-line $NAME=value definitions, and "@ID" / "@^ID" conditional
// lines, applied for the config id given to ParseFor (Options.Host) and otherwise skipped. It knows no keyword: the tree it
// returns is generic, so a block it does not understand is skipped by the converter with a
// warning instead of failing the parse.
//
// Import converts that tree directive by directive into the halo.yaml keys of DESIGN.md,
// writing a comment beside every converted item that names the keepalived file and line it
// came from, and a Warning for everything it could not carry over or whose meaning changes.
// The result is checked with supervisor.ParseConfig before it is returned, so that what
// Import calls usable is what `halod -t` accepts. Run wraps Import as the
// `halod import-keepalived` subcommand.
package keepalived
