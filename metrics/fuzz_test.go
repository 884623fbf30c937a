package metrics

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// FuzzTextRoundTrip: whatever HELP text, label value and sample value halod writes, the
// reference parser reads back the same (invalid UTF-8 as U+FFFD), on one line each.
func FuzzTextRoundTrip(f *testing.F) {
	f.Add("Help.", "VI_1", 1.0)
	f.Add("a\\b\nc \"d\"", "x\"y\\z\nw", math.Inf(-1))
	f.Add("", "", math.NaN())
	f.Add(" lead and trail ", "\xff\xfe", 1e-300)
	f.Fuzz(func(t *testing.T, help, value string, v float64) {
		fam := family{name: "halo_fuzz", typ: typeGauge, help: help}
		fam.add(v, "l", value)
		text := render(fam)
		if n := strings.Count(text, "\n"); n != 3 {
			t.Fatalf("%d lines, want 3:\n%q", n, text)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatalf("expfmt: %v\n%q", err, text)
		}
		got := fams["halo_fuzz"]
		// The format separates HELP's text from the name by blanks: leading ones are lost,
		// as they were with client_golang.
		if want := strings.TrimLeft(strings.ToValidUTF8(help, "\uFFFD"), " \t"); got.GetHelp() != want {
			t.Errorf("HELP %q read back as %q", want, got.GetHelp())
		}
		m := got.GetMetric()[0]
		if want := strings.ToValidUTF8(value, "\uFFFD"); m.GetLabel()[0].GetValue() != want {
			t.Errorf("label value %q read back as %q", want, m.GetLabel()[0].GetValue())
		}
		if g := m.GetGauge().GetValue(); g != v && !(math.IsNaN(g) && math.IsNaN(v)) {
			t.Errorf("%v read back as %v", v, g)
		}
	})
}
