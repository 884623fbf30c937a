package metrics

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Bounds of the metrics HTTP server. A scrape is one small GET answered in milliseconds;
// anything slower or larger is a broken or hostile client, and the listener must never
// cost halod more than a bounded amount of memory and file descriptors (a hundred
// unfinished 1 MB headers used to be held in full, each for as long as the client liked).
const (
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds reading a whole request.
	ReadTimeout = 10 * time.Second
	// WriteTimeout bounds a response, from the end of the request's headers.
	WriteTimeout = 30 * time.Second
	// IdleTimeout closes a kept-alive connection with no request for this long.
	IdleTimeout = 60 * time.Second
	// MaxHeaderBytes bounds a request's headers (net/http's default is 1 MiB); larger
	// ones are answered 431.
	MaxHeaderBytes = 8 << 10
	// MaxConns caps the connections served at once; more wait in the listen backlog.
	MaxConns = 64
)

// NewServer returns the HTTP server of the metrics: path serves h (Handler's), with the
// bounds above.
func NewServer(path string, h http.Handler) *http.Server {
	mux := http.NewServeMux()
	mux.Handle(path, h)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// Serve serves srv on ln, at most MaxConns connections at a time, until srv is closed.
func Serve(srv *http.Server, ln net.Listener) error {
	return srv.Serve(netutil.LimitListener(ln, MaxConns))
}
