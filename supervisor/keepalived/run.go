package keepalived

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/halo-lb/halo/haproxy"
)

// Exit codes of Run, in the spirit of keepalived -t: 0 the output is usable (warnings may
// have been printed), 1 it is not and nothing was written, 2 the command line is wrong.
const (
	ExitOK       = 0
	ExitUnusable = 1
	ExitUsage    = 2
)

// Run implements "halod import-keepalived [-o FILE] [-haproxy-config FILE]
// [-haproxy-mode external|managed] [-root DIR] [-host NAME] keepalived.conf". args excludes the
// subcommand's name. Every message goes to stderr as file:line: kind: text; the YAML goes
// to stdout, or to -o FILE, which is replaced atomically and only when the result is
// usable.
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("halod import-keepalived", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write halo.yaml to `FILE` (replaced atomically) instead of stdout")
	hcfg := fs.String("haproxy-config", "", "read haproxy.cfg from `FILE`: fills the haproxy section and checks that HAProxy binds the VIPs")
	mode := fs.String("haproxy-mode", string(haproxy.External), "haproxy.mode to write: external (haproxy.service keeps running HAProxy) or managed (halod runs it)")
	root := fs.String("root", "", "look up absolute paths of check scripts below `DIR`, a copy of the node's files")
	host := fs.String("host", "", "convert for the node whose keepalived config id is `NAME` (keepalived -i; by default the first label of its host name): its \"@NAME\" lines apply")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: halod import-keepalived [-o FILE] [-haproxy-config FILE] [-haproxy-mode external|managed] [-root DIR] [-host NAME] keepalived.conf\n\n"+
			"Converts a keepalived configuration into halo.yaml and says what it could not carry over.\n"+
			"Exit status: 0 usable (read the warnings), 1 not usable (nothing written), 2 usage.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return ExitUsage
	}
	m := haproxy.Mode(*mode)
	if m != haproxy.External && m != haproxy.Managed {
		fmt.Fprintf(stderr, "halod import-keepalived: -haproxy-mode %q: want external or managed\n", *mode)
		return ExitUsage
	}
	res, err := Import(fs.Arg(0), Options{HAProxyConfig: *hcfg, HAProxyMode: m, Root: *root, Host: *host})
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintln(stderr, w)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "halod import-keepalived: %v\n", err)
		if *out != "" {
			fmt.Fprintf(stderr, "halod import-keepalived: %s not written\n", *out)
		}
		return ExitUnusable
	}
	if *out == "" {
		if _, err := stdout.Write(res.YAML); err != nil {
			fmt.Fprintf(stderr, "halod import-keepalived: %v\n", err)
			return ExitUnusable
		}
		return ExitOK
	}
	if err := writeFileAtomic(*out, res.YAML); err != nil {
		fmt.Fprintf(stderr, "halod import-keepalived: %v\n", err)
		return ExitUnusable
	}
	fmt.Fprintf(stderr, "halod import-keepalived: wrote %s\n", *out)
	return ExitOK
}

// writeFileAtomic writes data to a temporary file beside path and renames it over path,
// so that a reader (or a crash) never sees half a halo.yaml. The mode is 0600 because the
// file may carry an auth_pass.
func writeFileAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
