package bgplab

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/halo-lb/halo/internal/netlab"
)

var bgpdConf = template.Must(template.New("bgpd.conf").Parse(`! written by internal/bgplab
hostname router
log stdout informational
router bgp 65000
 bgp router-id {{.RouterID}}
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp bestpath as-path multipath-relax
 timers bgp 1 3
{{- range .Peers4}}
 neighbor {{.}} remote-as 65001
 neighbor {{.}} timers connect 1
 neighbor {{.}} update-source {{$.RouterID}}
{{- if $.BFD}}
 neighbor {{.}} bfd profile halo
{{- end}}
{{- end}}
{{- range .Peers6}}
 neighbor {{.}} remote-as 65001
 neighbor {{.}} timers connect 1
 neighbor {{.}} update-source {{$.Router6}}
{{- if $.BFD}}
 neighbor {{.}} bfd profile halo
{{- end}}
{{- end}}
 address-family ipv4 unicast
{{- range .Peers4}}
  neighbor {{.}} activate
{{- end}}
  maximum-paths 16
 exit-address-family
 address-family ipv6 unicast
{{- range .Peers6}}
  neighbor {{.}} activate
{{- end}}
  maximum-paths 16
 exit-address-family
`))

var bfddConf = template.Must(template.New("bfdd.conf").Parse(`! written by internal/bgplab
hostname router
log stdout informational
bfd
 profile halo
  transmit-interval {{.MS}}
  receive-interval {{.MS}}
  detect-multiplier 3
`))

// frrRunDir makes a directory the frr user owns (FRR's daemons refuse to run as root
// unless root is in the frrvty group, and drop to frr): t.TempDir() is root's and closed
// to others. It is removed with the test.
func frrRunDir(t interface{ Cleanup(func()) }) (string, error) {
	u, err := user.Lookup("frr")
	if err != nil {
		return "", fmt.Errorf("user frr (Debian's frr package makes it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	d, err := os.MkdirTemp("", "halo-bgplab-frr-")
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		return "", err
	}
	return d, os.Chown(d, uid, gid)
}

// startFRR writes FRR's configs into RouterDir and starts zebra, bfdd and bgpd in the
// router's namespace, each with its own PID file and sockets there, and waits until
// vtysh reaches bgpd.
func (l *Lab) startFRR() error {
	d := l.RouterDir
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	var peers, p4, p6 []string
	for _, n := range l.Net.Nodes[:l.opt.LBs] {
		p4 = append(p4, n.IPv4[0].Addr().String())
		p6 = append(p6, n.IPv6[0].Addr().String())
	}
	peers = append(append(peers, p4...), p6...)
	data := map[string]any{"RouterID": l.Router.IPv4[0].Addr(), "Router6": l.Router.IPv6[0].Addr(), "Peers": peers, "Peers4": p4, "Peers6": p6,
		"BFD": !l.opt.NoBFD, "MS": l.opt.BFD.Milliseconds()}
	for name, tpl := range map[string]*template.Template{"bgpd.conf": bgpdConf, "bfdd.conf": bfddConf} {
		var b strings.Builder
		if err := tpl.Execute(&b, data); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, name), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(d, "zebra.conf"), []byte("hostname router\n"), 0o644); err != nil {
		return err
	}
	// vtysh reads the integrated config's directory for its own settings; an empty one
	// keeps it off /etc/frr.
	if err := os.WriteFile(filepath.Join(d, "vtysh.conf"), nil, 0o644); err != nil {
		return err
	}
	common := func(daemon string) []string {
		return []string{"-f", filepath.Join(d, daemon+".conf"), "-i", filepath.Join(d, daemon+".pid"),
			"-z", filepath.Join(d, "zserv.api"), "--vty_socket", d, "-u", "frr", "-g", "frr", "--log", "stdout"}
	}
	zebra, err := l.Router.Start(filepath.Join(frrDir, "zebra"), common("zebra")...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := waitFile(ctx, filepath.Join(d, "zserv.api"), zebra.Done()); err != nil {
		return fmt.Errorf("zebra: %w\n%s", err, zebra.Output())
	}
	bfdd, err := l.Router.Start(filepath.Join(frrDir, "bfdd"), append(common("bfdd"), "--bfdctl", filepath.Join(d, "bfdd.sock"))...)
	if err != nil {
		return err
	}
	bgpd, err := l.Router.Start(filepath.Join(frrDir, "bgpd"), common("bgpd")...)
	if err != nil {
		return err
	}
	l.FRR = map[string]*netlab.Proc{"zebra": zebra, "bfdd": bfdd, "bgpd": bgpd}
	for {
		out, err := l.Vtysh(ctx, "show bgp summary")
		if err == nil && strings.Contains(out, "65000") {
			return nil
		}
		select {
		case <-bgpd.Done():
			return fmt.Errorf("bgpd exited:\n%s", bgpd.Output())
		case <-bfdd.Done():
			return fmt.Errorf("bfdd exited:\n%s", bfdd.Output())
		case <-ctx.Done():
			return fmt.Errorf("bgpd not answering vtysh: %s\n%s", out, bgpd.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitFile(ctx context.Context, path string, died <-chan struct{}) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-died:
			return fmt.Errorf("exited before creating %s", path)
		case <-ctx.Done():
			return fmt.Errorf("%s not created: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
