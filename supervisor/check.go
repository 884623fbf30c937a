package supervisor

import (
	"context"
	"errors"
	"fmt"

	"github.com/halo-lb/halo/haproxy"
)

// CheckHAProxy is the haproxy.cfg half of `halod -t`: HAProxy's own `haproxy -c` and halo's
// lint over the files cfg names. It returns every finding, warnings included, one line
// each (file:line: severity: message), the files read, and an error when the files are
// invalid or could not be checked at all.
func CheckHAProxy(ctx context.Context, cfg *Config) (findings, files []string, err error) {
	_, findings, files, err = checkHAProxy(ctx, cfg)
	return findings, files, err
}

func checkHAProxy(ctx context.Context, cfg *Config) (report haproxy.Report, findings, files []string, err error) {
	report, err = haproxy.ValidateFiles(ctx, cfg.HAProxy)
	for _, f := range report.Findings {
		findings = append(findings, f.String())
	}
	var ve *haproxy.ValidationError
	switch {
	case err != nil && !errors.As(err, &ve):
		// Could not validate at all (haproxy missing, a file unreadable): say why.
		findings = append(findings, err.Error())
	case err == nil && len(report.Errors()) > 0:
		err = fmt.Errorf("%d errors in haproxy.cfg", len(report.Errors()))
	}
	return report, findings, report.Files, err
}
