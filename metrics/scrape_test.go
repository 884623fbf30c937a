package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The tests read the exposition with Prometheus' own parser (prometheus/common/expfmt)
// and lint it with promlint: test dependencies only, halod links neither.

// scrapeText serves one scrape of src through Handler, as halod does.
func scrapeText(t *testing.T, src Source) string {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(src).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type %q, want %q", ct, ContentType)
	}
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseText reads text with the reference parser, which fails on anything a Prometheus
// server would refuse.
func parseText(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("expfmt cannot parse the scrape: %v\n%s", err, text)
	}
	return fams
}

// familyText renders a parsed family back to text, for a readable diff.
func familyText(t *testing.T, f *dto.MetricFamily) string {
	t.Helper()
	if f == nil {
		return ""
	}
	var b strings.Builder
	if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// compareFamilies compares the named families of got and want, both parsed: name, HELP,
// TYPE, every series with its labels and value, in order.
func compareFamilies(t *testing.T, got, want string, names ...string) {
	t.Helper()
	g, w := parseText(t, got), parseText(t, want)
	for _, name := range names {
		if w[name] == nil {
			t.Fatalf("the expected text lacks %s", name)
		}
		if d := cmp.Diff(familyText(t, w[name]), familyText(t, g[name])); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
}

// lint runs promlint over text.
func lint(t *testing.T, text string) {
	t.Helper()
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
