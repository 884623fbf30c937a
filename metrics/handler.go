package metrics

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
)

// Handler serves src's metrics, with the Go runtime's and the process's, in the text
// format. Each scrape reads one snapshot: the VRRP, HAProxy and BGP series of a scrape
// are of one instant.
func Handler(src Source) http.Handler { return &handler{src: src} }

type handler struct{ src Source }

// gather renders a whole scrape. The text is complete before a byte is sent, so that a
// client that goes away mid-write never leaves half a family in a proxy's cache, and a
// slow client holds no snapshot.
func (h *handler) gather() *bytes.Buffer {
	st := h.src.Status()
	fams := haloFamilies(st)
	fams = append(fams, bgpFamilies(st.BGP)...)
	fams = append(fams, goFamilies()...)
	fams = append(fams, processFamilies()...)
	var buf bytes.Buffer
	writeText(&buf, fams)
	return &buf
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := h.gather()
	hdr := w.Header()
	hdr.Set("Content-Type", ContentType)
	hdr.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, _ = zw.Write(body.Bytes()) // into memory: cannot fail
		_ = zw.Close()
		body = &z
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("Content-Length", strconv.Itoa(body.Len()))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = body.WriteTo(w) // a client gone away is nothing to report
}

// acceptsGzip says whether an Accept-Encoding header (RFC 9110 section 12.5.3) allows gzip:
// named, or matched by *, with a weight above 0.
func acceptsGzip(values []string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			switch c := strings.ToLower(strings.TrimSpace(coding)); c {
			case "gzip", "x-gzip":
				gzipQ = max(gzipQ, q)
			case "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
