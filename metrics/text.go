package metrics

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The Prometheus text exposition format, version 0.0.4: what every Prometheus server and
// agent reads. halod writes it itself rather than through client_golang, whose package
// initialisers (protobuf, procfs, prometheus/common) cost halod 2.1 MB of stripped binary
// and about 2 MiB of idle RSS for a page of text (issue #11).

// ContentType is the media type of the exposition.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// The metric types of the format.
const (
	typeCounter   = "counter"
	typeGauge     = "gauge"
	typeHistogram = "histogram"
	typeSummary   = "summary"
)

// family is one metric family: a name, its HELP and TYPE, and its series.
type family struct {
	name, help, typ string
	series          []series
}

// series is one labelled sample of a family; a histogram's or a summary's carries its
// buckets or quantiles, its sum and its count besides.
type series struct {
	labels []label
	value  float64
	// buckets are a histogram's cumulative counts by upper bound; +Inf is added, at the
	// count, when absent. quantiles are a summary's values by quantile.
	buckets   []bucket
	quantiles []quantile
	sum       float64
	count     uint64
}

type label struct{ name, value string }

type bucket struct {
	le    float64
	count uint64
}

type quantile struct{ q, v float64 }

// labels pairs names and values; there must be as many of each.
func labels(nameValue ...string) []label {
	ls := make([]label, 0, len(nameValue)/2)
	for i := 0; i+1 < len(nameValue); i += 2 {
		ls = append(ls, label{nameValue[i], nameValue[i+1]})
	}
	return ls
}

// add appends a sample with the given label names and values to f.
func (f *family) add(v float64, nameValue ...string) {
	f.series = append(f.series, series{labels: labels(nameValue...), value: v})
}

// writeText writes fams in the text format. Families are sorted by name, labels by name
// and series by their label values in that order, as client_golang did, so that two
// scrapes of the same state are the same text. A series repeated in a family (two VRRP
// instances of one name) is written once, the first one: Prometheus would reject the
// scrape's duplicate sample anyway.
func writeText(buf *bytes.Buffer, fams []family) {
	slices.SortStableFunc(fams, func(a, b family) int { return strings.Compare(a.name, b.name) })
	for i, f := range fams {
		if i > 0 && f.name == fams[i-1].name {
			continue // a family registered twice: the first one wins, as for series
		}
		if len(f.series) == 0 {
			continue // client_golang wrote no HELP and TYPE for a family without series
		}
		for j := range f.series {
			slices.SortFunc(f.series[j].labels, func(a, b label) int { return strings.Compare(a.name, b.name) })
		}
		slices.SortStableFunc(f.series, compareSeries)
		buf.WriteString("# HELP ")
		buf.WriteString(f.name)
		buf.WriteByte(' ')
		writeEscaped(buf, f.help, false)
		buf.WriteString("\n# TYPE ")
		buf.WriteString(f.name)
		buf.WriteByte(' ')
		buf.WriteString(f.typ)
		buf.WriteByte('\n')
		for j, s := range f.series {
			if j > 0 && compareSeries(s, f.series[j-1]) == 0 {
				continue
			}
			writeSeries(buf, f, s)
		}
	}
}

// compareSeries orders series by their (name-sorted) labels: by each label's name, then
// its value, pair after pair.
func compareSeries(a, b series) int {
	for i := range min(len(a.labels), len(b.labels)) {
		if c := cmp.Or(strings.Compare(a.labels[i].name, b.labels[i].name),
			strings.Compare(a.labels[i].value, b.labels[i].value)); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.labels), len(b.labels))
}

func writeSeries(buf *bytes.Buffer, f family, s series) {
	switch f.typ {
	case typeHistogram:
		bs := slices.Clone(s.buckets)
		slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
		if len(bs) == 0 || !math.IsInf(bs[len(bs)-1].le, +1) {
			bs = append(bs, bucket{le: math.Inf(+1), count: s.count})
		}
		for _, b := range bs {
			writeSample(buf, f.name+"_bucket", s.labels, label{"le", formatFloat(b.le)}, float64(b.count))
		}
		writeSample(buf, f.name+"_sum", s.labels, label{}, s.sum)
		writeSample(buf, f.name+"_count", s.labels, label{}, float64(s.count))
	case typeSummary:
		qs := slices.Clone(s.quantiles)
		slices.SortFunc(qs, func(a, b quantile) int { return cmp.Compare(a.q, b.q) })
		for _, q := range qs {
			writeSample(buf, f.name, s.labels, label{"quantile", formatFloat(q.q)}, q.v)
		}
		writeSample(buf, f.name+"_sum", s.labels, label{}, s.sum)
		writeSample(buf, f.name+"_count", s.labels, label{}, float64(s.count))
	default:
		writeSample(buf, f.name, s.labels, label{}, s.value)
	}
}

// writeSample writes one line; extra (le or quantile), when named, follows the labels.
func writeSample(buf *bytes.Buffer, name string, ls []label, extra label, v float64) {
	buf.WriteString(name)
	if len(ls) > 0 || extra.name != "" {
		buf.WriteByte('{')
		for i, l := range ls {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeLabel(buf, l)
		}
		if extra.name != "" {
			if len(ls) > 0 {
				buf.WriteByte(',')
			}
			writeLabel(buf, extra)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(' ')
	buf.WriteString(formatFloat(v))
	buf.WriteByte('\n')
}

func writeLabel(buf *bytes.Buffer, l label) {
	buf.WriteString(l.name)
	buf.WriteString(`="`)
	writeEscaped(buf, l.value, true)
	buf.WriteByte('"')
}

// writeEscaped escapes a HELP text (backslash, newline) or a label value (those and the
// double quote). Invalid UTF-8, which the format forbids, becomes U+FFFD.
func writeEscaped(buf *bytes.Buffer, s string, quote bool) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			buf.WriteString(`\\`)
		case c == '\n':
			buf.WriteString(`\n`)
		case c == '"' && quote:
			buf.WriteString(`\"`)
		default:
			buf.WriteByte(c)
		}
	}
}

// formatFloat formats a value as client_golang did: the shortest representation that
// reads back to the same float, and +Inf, -Inf and NaN by the format's spelling.
func formatFloat(f float64) string {
	switch {
	case f == 1:
		return "1"
	case f == 0:
		return "0" // -0 too
	case f == -1:
		return "-1"
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
