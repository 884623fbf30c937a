package keepalived

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// checkKind is what a vrrp_script's command was found to do.
type checkKind int

const (
	// checkOther: anything but "is HAProxy running"; halo cannot carry it over.
	checkOther checkKind = iota
	// checkHAProxy: the command only tests whether HAProxy runs, which halo's
	// track_haproxy does better (runtime API, frontends OPEN, not just a PID).
	checkHAProxy
	// checkUnreadable: a script file the importer could not read, so it cannot tell.
	checkUnreadable
	// checkNet: the command connects to a TCP or HTTP service (and may test the HAProxy
	// process too); an HAProxy frontend check replaces it when HAProxy serves that port.
	checkNet
)

// scriptCheck is the verdict on one vrrp_script command.
type scriptCheck struct {
	kind checkKind
	// how names the probe found ("killall -0 haproxy") or, for checkOther, what else
	// the command does.
	how string
	// pidofTrap: the command is pidof run directly by keepalived, which resolves the
	// /usr/bin/pidof symlink and so runs killall5 on Debian 12: the check always failed.
	pidofTrap bool
	// dashTrap: a /dev/tcp redirection run by /bin/sh, which is dash on Debian and
	// Ubuntu: dash has no /dev/tcp, so the check always failed there.
	dashTrap bool
	// nets are the TCP and HTTP probes found; ipGuard: the script reads the node's
	// addresses ("ip addr | grep -q VIP"), as scripts do that probe the VIP only while the
	// node holds it.
	nets    []netProbe
	ipGuard bool
	// file is the script file read, when the command was one.
	file string
}

// haproxyNames are the process, unit and binary names a probe may ask about.
func isHAProxyName(s string) bool {
	switch s {
	case "haproxy", "haproxy.service", "/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy":
		return true
	}
	return false
}

// classifyCommand decides whether argv (a vrrp_script's script, split as keepalived
// splits it) only tests that HAProxy runs. readScript reads a script file named by an
// absolute path (relative ones are resolved by the caller); it may fail.
func classifyCommand(argv []string, readScript func(string) ([]byte, string, error)) scriptCheck {
	if len(argv) == 0 {
		return scriptCheck{kind: checkOther, how: "an empty command"}
	}
	base := path.Base(argv[0])
	if base == "timeout" {
		// "timeout [-s SIG] [-k D] DURATION COMMAND...": judge the command.
		i := 1
		for i < len(argv) && strings.HasPrefix(argv[i], "-") {
			if argv[i] == "-s" || argv[i] == "-k" || argv[i] == "--signal" || argv[i] == "--kill-after" {
				i++
			}
			i++
		}
		if i+1 < len(argv) {
			c := classifyCommand(argv[i+1:], readScript)
			c.pidofTrap = false // timeout finds pidof by its name in PATH, as a shell does
			return c
		}
	}
	if strings.HasPrefix(argv[0], "<") {
		// keepalived runs a command beginning with "</" through system(), /bin/sh -c
		// (check_script_secure returns SC_SYSTEM): a file-open test, or bash's /dev/tcp.
		text := strings.Join(argv, " ")
		c := classifyShell(text)
		c.dashTrap = strings.Contains(text, "/dev/tcp/")
		return c
	}
	if isShell(base) && len(argv) >= 3 && argv[1] == "-c" {
		c := classifyShell(argv[2])
		c.dashTrap = (base == "sh" || base == "dash") && strings.Contains(argv[2], "/dev/tcp/")
		return c
	}
	if how, ok := probe(argv); ok {
		return scriptCheck{kind: checkHAProxy, how: how, pidofTrap: base == "pidof"}
	}
	if np, ok := netProbeOf(argv); ok {
		return scriptCheck{kind: checkNet, how: np.how, nets: []netProbe{np}}
	}
	runner := "" // the shell named before the script file, which then ignores its "#!"
	if isShell(base) && len(argv) == 2 {
		runner, argv = base, argv[1:] // "bash /etc/keepalived/check.sh"
	}
	if strings.Contains(argv[0], "/") && !knownBinary(path.Base(argv[0])) {
		data, name, err := readScript(argv[0])
		if err != nil {
			return scriptCheck{kind: checkUnreadable, how: err.Error(), file: argv[0]}
		}
		c := classifyShell(string(data))
		c.file = name
		// Without a "#!" line keepalived runs the file through /bin/sh too.
		sh := "sh"
		if first, _, _ := strings.Cut(string(data), "\n"); runner != "" {
			sh = runner
		} else if strings.HasPrefix(first, "#!") {
			sh = path.Base(strings.Fields(first[2:] + " x")[0])
			if sh == "env" && len(strings.Fields(first[2:])) > 1 {
				sh = strings.Fields(first[2:])[1]
			}
		}
		c.dashTrap = (sh == "sh" || sh == "dash") && strings.Contains(string(data), "/dev/tcp/")
		if c.kind == checkHAProxy && len(argv) > 1 {
			// Arguments may name the service the script checks ($1); without reading
			// them as the script does, say only what was seen.
			c.how += fmt.Sprintf(" (called with %s)", strings.Join(argv[1:], " "))
		}
		return c
	}
	return scriptCheck{kind: checkOther, how: strings.Join(argv, " ")}
}

func isShell(base string) bool {
	switch base {
	case "sh", "bash", "dash", "ash", "zsh", "ksh":
		return true
	}
	return false
}

// knownBinary: commands that are programs, not scripts to open.
func knownBinary(base string) bool {
	switch base {
	case "pidof", "killall", "pkill", "pgrep", "systemctl", "service", "ps", "kill", "curl", "wget", "nc", "test", "[":
		return true
	}
	return false
}

// probe recognises a single command that asks whether HAProxy runs.
func probe(argv []string) (string, bool) {
	if len(argv) == 0 {
		return "", false
	}
	base := path.Base(argv[0])
	var flags, targets []string
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
			if (base == "killall" || base == "pkill") && (a == "-s" || a == "--signal") && i+1 < len(argv) {
				i++
				flags = append(flags, a+" "+argv[i])
			}
			continue
		}
		targets = append(targets, a)
	}
	one := len(targets) == 1 && isHAProxyName(targets[0])
	has := func(want ...string) bool {
		for _, f := range flags {
			for _, w := range want {
				if f == w {
					return true
				}
			}
		}
		return false
	}
	show := strings.Join(append([]string{base}, argv[1:]...), " ")
	switch base {
	case "killall", "pkill":
		// Signal 0 only asks whether the process exists.
		if one && has("-0", "-s 0", "--signal 0", "-SIGZERO") {
			return show, true
		}
	case "pidof", "pgrep":
		if one {
			return show, true
		}
	case "systemctl":
		if len(targets) == 2 && (targets[0] == "is-active" || targets[0] == "status") && isHAProxyName(targets[1]) {
			return show, true
		}
	case "service":
		if len(targets) == 2 && isHAProxyName(targets[0]) && targets[1] == "status" {
			return show, true
		}
	case "haproxy":
		if argv[0] == "/etc/init.d/haproxy" && len(targets) == 1 && targets[0] == "status" {
			return show, true
		}
	case "ps":
		// "ps -C haproxy" fails when no such process runs.
		for i := 1; i+1 < len(argv); i++ {
			if argv[i] == "-C" && isHAProxyName(argv[i+1]) {
				return show, true
			}
		}
	case "grep", "egrep":
		// The tail of "ps aux | grep haproxy": it decides the exit status.
		for _, t := range targets {
			if strings.Contains(t, "haproxy") {
				return show, true
			}
		}
	}
	return "", false
}

// Shell analysis: a script "only checks HAProxy" when, after the plain variable
// assignments are substituted, every simple command in it is either a probe or glue that
// only tests and exits (if/[/test/exit/wc/echo ...), and there is at least one probe.
// Anything else, such as restarting HAProxy or stopping keepalived from the script, makes
// it a script halo cannot replace.
var (
	shellAssign = regexp.MustCompile(`^\s*(?:export\s+|readonly\s+|local\s+)?([A-Za-z_][A-Za-z0-9_]*)=("([^"$` + "`" + `]*)"|'([^']*)'|([^\s"'$;` + "`" + `|&()]*))\s*$`)
	shellVar    = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)
	// Cut points between simple commands: separators, pipes, command substitutions.
	shellCut      = regexp.MustCompile("\\$\\(|`|\\)|;|\\|\\||&&|\\||\n")
	shellRedirect = regexp.MustCompile(`^[0-9]*(>>?|<|&>)&?[^\s]*$`)
)

func classifyShell(text string) scriptCheck {
	// Drop comments (and the shebang), then substitute plain assignments.
	vars := map[string]string{}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if i := strings.Index(l, " #"); i >= 0 {
			l = l[:i]
		}
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if m := shellAssign.FindStringSubmatch(l); m != nil {
			vars[m[1]] = m[3] + m[4] + m[5]
			continue
		}
		lines = append(lines, l)
	}
	body := shellVar.ReplaceAllStringFunc(strings.Join(lines, "\n"), func(v string) string {
		name := strings.Trim(v, "${}")
		if val, ok := vars[name]; ok {
			return val
		}
		return v
	})
	body = strings.NewReplacer(`"`, " ", `'`, " ").Replace(body)

	var probes []string
	var nets []netProbe
	ipGuard := false
	funcs := map[string]bool{}
	for _, part := range shellCut.Split(body, -1) {
		words := strings.Fields(part)
		if np, ok := devTCP(words); ok {
			nets = append(nets, np)
			continue
		}
		words = stripShellSyntax(words)
		if len(words) == 0 {
			continue
		}
		if name, ok := strings.CutSuffix(words[0], "("); ok && len(words) == 1 {
			funcs[name] = true // "die() {": the ")" was a cut point
			continue
		}
		if readOnlyIP(words) {
			ipGuard = true
			continue
		}
		if funcs[words[0]] {
			continue
		}
		if how, ok := probe(words); ok {
			probes = append(probes, how)
			continue
		}
		if np, ok := netProbeOf(words); ok {
			nets = append(nets, np)
			continue
		}
		if words[0] == "kill" && len(words) == 2 && words[1] == "-0" && strings.Contains(body, "haproxy") && strings.Contains(body, ".pid") {
			// "kill -0 $(cat /run/haproxy.pid)": the substitution was cut away.
			probes = append(probes, "kill -0 $(cat haproxy.pid)")
			continue
		}
		if glue(words) {
			continue
		}
		return scriptCheck{kind: checkOther, how: "it also runs: " + strings.Join(words, " ")}
	}
	for _, np := range nets {
		probes = append(probes, np.how)
	}
	switch {
	case len(probes) == 0:
		return scriptCheck{kind: checkOther, how: "it tests neither an HAProxy process nor a TCP or HTTP service"}
	case len(nets) > 0:
		return scriptCheck{kind: checkNet, how: strings.Join(dedupe(probes), "; "), nets: nets, ipGuard: ipGuard}
	}
	return scriptCheck{kind: checkHAProxy, how: strings.Join(dedupe(probes), "; ")}
}

// stripShellSyntax removes keywords, assignments with no value left (the "X=" before a
// cut command substitution) and redirections from a simple command.
func stripShellSyntax(words []string) []string {
	for len(words) > 0 {
		switch w := words[0]; {
		case w == "if" || w == "then" || w == "else" || w == "elif" || w == "fi" || w == "!" ||
			w == "{" || w == "}" || w == "do" || w == "done" || w == "while" || w == "until" || w == "(":
			words = words[1:]
			continue
		case strings.HasSuffix(w, "=") && shellAssign.MatchString(w+"x"):
			words = words[1:]
			continue
		}
		break
	}
	out := words[:0:0]
	for i := 0; i < len(words); i++ {
		if shellRedirect.MatchString(words[i]) {
			if strings.HasSuffix(words[i], ">") || strings.HasSuffix(words[i], "<") {
				i++ // "> /dev/null": the target is the next word
			}
			continue
		}
		out = append(out, words[i])
	}
	return out
}

// glue: commands that only test values, count lines or exit.
func glue(words []string) bool {
	if w := words[0]; strings.HasPrefix(w, "-") || strings.HasPrefix(w, "$") || w[0] >= '0' && w[0] <= '9' {
		return true // the rest of an enclosing test after a cut substitution: "-eq 0 ]"
	}
	switch words[0] {
	case "exit", "return", "[", "[[", "]", "]]", "test", "true", "false", ":", "wc", "echo", "printf", "set", "fi", "then", "else", "head", "cat", "ps", "grep", "egrep":
		return words[0] != "cat" || (len(words) == 2 && strings.Contains(words[1], "haproxy") && strings.HasSuffix(words[1], ".pid"))
	}
	return false
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// devTCP recognises a simple command that opens bash's /dev/tcp/HOST/PORT ("</dev/tcp/h/p",
// "exec 3<>/dev/tcp/h/p", "echo > /dev/tcp/h/p"): a TCP connect test.
func devTCP(words []string) (netProbe, bool) {
	for i, w := range words {
		j := strings.Index(w, "/dev/tcp/")
		if j < 0 {
			continue
		}
		if j == 0 && (i == 0 || !strings.ContainsAny(words[i-1], "<>")) {
			continue // a file name, not a redirection target
		}
		if j > 0 && !strings.ContainsAny(w[:j], "<>") {
			continue
		}
		host, portStr, _ := strings.Cut(w[j+len("/dev/tcp/"):], "/")
		port, err := strconv.Atoi(portStr)
		if err != nil || host == "" {
			return netProbe{}, false
		}
		return netProbe{host: host, port: port, how: strings.Join(words, " ")}, true
	}
	return netProbe{}, false
}

// readOnlyIP: "ip addr", "ip -4 a show dev eth0": the check scripts that test whether the
// node holds the VIP before probing it.
func readOnlyIP(words []string) bool {
	if path.Base(words[0]) != "ip" {
		return false
	}
	for _, w := range words[1:] {
		switch w {
		case "add", "del", "delete", "change", "replace", "flush", "set":
			return false
		}
	}
	for _, w := range words[1:] {
		if strings.HasPrefix(w, "-") {
			continue
		}
		return w == "a" || w == "addr" || w == "address" || w == "link" || w == "l" || w == "route" || w == "r"
	}
	return false
}
