package metrics

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/halo-lb/halo/supervisor"
)

func render(fams ...family) string {
	var buf bytes.Buffer
	writeText(&buf, fams)
	return buf.String()
}

// TestEscapingRoundTrips: what the reference parser reads back is what was written, for
// a label value and a HELP text holding every character the format escapes.
func TestEscapingRoundTrips(t *testing.T) {
	const value = "a \"quoted\" \\path\\ and\na newline, {braces}=, 🙂"
	const help = "HELP with a \\backslash\\, a \"quote\" and\na newline."
	f := family{name: "halo_test_info", typ: typeGauge, help: help}
	f.add(1, "file", value, "bad_utf8", "a\xffb")
	text := render(f)
	got := parseText(t, text)["halo_test_info"]
	if got == nil {
		t.Fatalf("halo_test_info not parsed from\n%s", text)
	}
	if got.GetHelp() != help {
		t.Errorf("HELP read back as %q, want %q", got.GetHelp(), help)
	}
	labels := map[string]string{}
	for _, l := range got.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["file"] != value {
		t.Errorf("label value read back as %q, want %q", labels["file"], value)
	}
	if labels["bad_utf8"] != "a\uFFFDb" {
		t.Errorf("invalid UTF-8 read back as %q, want a\\uFFFDb", labels["bad_utf8"])
	}
	if strings.Count(text, "\n") != 3 {
		t.Errorf("a newline left unescaped:\n%s", text)
	}
}

// TestFloats: values are spelled as client_golang spelled them, and read back exactly.
func TestFloats(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-1, "-1"}, {0.05, "0.05"}, {3, "3"},
		{1e-9, "1e-09"}, {12015880, "1.201588e+07"}, {1796184108.17, "1.79618410817e+09"},
		{math.MaxInt64, "9.223372036854776e+18"}, {math.Inf(+1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"},
	} {
		if got := formatFloat(tc.v); got != tc.want {
			t.Errorf("formatFloat(%v) = %q, want %q", tc.v, got, tc.want)
		}
		f := family{name: "halo_test", typ: typeGauge, help: "h"}
		f.add(tc.v)
		got := parseText(t, render(f))["halo_test"].GetMetric()[0].GetGauge().GetValue()
		if got != tc.v && !(math.IsNaN(got) && math.IsNaN(tc.v)) {
			t.Errorf("%v read back as %v", tc.v, got)
		}
	}
}

// TestHistogram: buckets in order of their bound whatever order they come in, +Inf
// added at the count, _sum and _count after.
func TestHistogram(t *testing.T) {
	f := family{name: "halo_test_seconds", typ: typeHistogram, help: "h", series: []series{{
		buckets: []bucket{{0.1, 10}, {0.001, 5}, {0.01, 9}}, sum: 0.05, count: 11,
	}}}
	want := `# HELP halo_test_seconds h
# TYPE halo_test_seconds histogram
halo_test_seconds_bucket{le="0.001"} 5
halo_test_seconds_bucket{le="0.01"} 9
halo_test_seconds_bucket{le="0.1"} 10
halo_test_seconds_bucket{le="+Inf"} 11
halo_test_seconds_sum 0.05
halo_test_seconds_count 11
`
	got := render(f)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	h := parseText(t, got)["halo_test_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 11 || len(h.GetBucket()) != 4 {
		t.Errorf("expfmt reads %d buckets, count %d", len(h.GetBucket()), h.GetSampleCount())
	}
}

// TestScrapeIsStable: the same state gives the same text, whatever order the snapshot
// lists its instances, reasons and results in; families come sorted by name, and a
// series repeated (two instances of one name) is written once.
func TestScrapeIsStable(t *testing.T) {
	two := func(first, second string) fixed {
		s := bgpSample()
		s.Instances = []supervisor.InstanceStatus{s.Instances[0], s.Instances[0]}
		s.Instances[0].Name, s.Instances[1].Name = first, second
		s.Instances[1].State = "BACKUP"
		if first > second {
			s.Instances[0].State, s.Instances[1].State = "BACKUP", "MASTER"
		}
		return s
	}
	halo := func(text string) string {
		var lines []string
		for line := range strings.SplitSeq(text, "\n") {
			if strings.HasPrefix(line, "halo_") && !strings.HasPrefix(line, "halo_build_info") {
				lines = append(lines, line)
			}
		}
		return strings.Join(lines, "\n")
	}
	a, b := scrapeText(t, two("VI_1", "VI_2")), scrapeText(t, two("VI_2", "VI_1"))
	if halo(a) != halo(b) {
		t.Errorf("the same state in another order scrapes differently:\n%s\n---\n%s", halo(a), halo(b))
	}
	var names []string
	for _, line := range strings.Split(a, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "TYPE" {
			names = append(names, f[2])
		}
	}
	if !slices.IsSorted(names) || len(names) < 60 {
		t.Errorf("families not sorted by name (or too few, %d): %v", len(names), names)
	}
	if !strings.Contains(a, `halo_vrrp_state{state="BACKUP",vrrp_instance="VI_1"} 0`+"\n"+`halo_vrrp_state{state="BACKUP",vrrp_instance="VI_2"} 1`) {
		t.Errorf("series not sorted by label values:\n%s", halo(a))
	}

	dup := two("VI_1", "VI_1")
	fams := parseText(t, scrapeText(t, dup))
	if n := len(fams["halo_vrrp_priority"].GetMetric()); n != 1 {
		t.Errorf("two instances named VI_1: %d halo_vrrp_priority series, want 1", n)
	}
}

type counting struct {
	fixed
	calls atomic.Int32
}

func (c *counting) Status() supervisor.Status { c.calls.Add(1); return c.fixed.Status() }

// TestOneSnapshotPerScrape: halo's and BGP's series come from one Status call, so they
// describe one instant (client_golang's two collectors took two).
func TestOneSnapshotPerScrape(t *testing.T) {
	src := &counting{fixed: bgpSample()}
	scrapeText(t, src)
	if n := src.calls.Load(); n != 1 {
		t.Errorf("%d Status calls for one scrape, want 1", n)
	}
}

// TestGzipScrape: a scraper that accepts gzip (Prometheus does) gets the same text
// compressed; one that does not, or refuses it with q=0, gets it plain.
func TestGzipScrape(t *testing.T) {
	srv := httptest.NewServer(Handler(sample()))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(method, acceptEncoding string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	_, plain := get(http.MethodGet, "")
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip", true}, {"identity, gzip;q=0.5", true}, {"*", true}, {"GZIP", true},
		{"", false}, {"identity", false}, {"gzip;q=0", false}, {"*;q=1, gzip;q=0", false}, {"deflate, br", false},
	} {
		resp, body := get(http.MethodGet, tc.accept)
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", tc.accept, got, tc.gzip)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); ct != ContentType {
			t.Errorf("Accept-Encoding %q: Content-Type %q", tc.accept, ct)
		}
		if tc.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("Accept-Encoding %q: %v", tc.accept, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatalf("Accept-Encoding %q: %v", tc.accept, err)
			}
		}
		fams := parseText(t, string(body))
		if fams["halo_haproxy_healthy"].GetMetric()[0].GetGauge().GetValue() != 1 || len(fams) != len(parseText(t, string(plain))) {
			t.Errorf("Accept-Encoding %q: a different scrape", tc.accept)
		}
	}
	if resp, body := get(http.MethodHead, "gzip"); len(body) != 0 || resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD: %s with %d bytes", resp.Status, len(body))
	}
}
