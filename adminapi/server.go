package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// MinTokenLength is the shortest bearer token accepted (e.g.
// `openssl rand -hex 32` makes 64 characters).
const MinTokenLength = 16

// ServerConfig are the settings of the admin API's listener.
type ServerConfig struct {
	// Addr to listen on (HITEXPORT_ADMIN_ADDR), e.g. 127.0.0.1:8081.
	Addr string
	// TokenFile holds the bearer token (HITEXPORT_ADMIN_TOKEN_FILE).
	TokenFile string
	// AllowNoToken serves without authentication; only accepted when Addr
	// is a loopback address (HITEXPORT_ADMIN_ALLOW_NO_TOKEN).
	AllowNoToken bool
}

// LoadToken reads the bearer token from path (surrounding whitespace
// trimmed). Errors name the setting, never the token.
func LoadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("HITEXPORT_ADMIN_TOKEN_FILE: cannot read the file it names: %v", errors.Unwrap(err))
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinTokenLength {
		return "", fmt.Errorf("HITEXPORT_ADMIN_TOKEN_FILE: the token must be at least %d characters (e.g. openssl rand -hex 32)", MinTokenLength)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", errors.New("HITEXPORT_ADMIN_TOKEN_FILE: the token must be one line without spaces")
	}
	return tok, nil
}

// IsLoopback reports whether addr (host:port) binds only a loopback
// interface: localhost or a loopback IP. ":8081" (every interface) is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewServer checks the settings and returns the admin API's server
// (handler built from o, token from c.TokenFile). Without a token it
// refuses unless c.Addr is loopback and c.AllowNoToken is set; the error
// names the setting.
func NewServer(c ServerConfig, o Options) (*http.Server, error) {
	if c.Addr == "" {
		return nil, errors.New("HITEXPORT_ADMIN_ADDR: required to serve the admin API (e.g. 127.0.0.1:8081)")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return nil, fmt.Errorf("HITEXPORT_ADMIN_ADDR: %q is not host:port", c.Addr)
	}
	o.Token, o.AllowNoToken = "", false
	switch {
	case c.TokenFile != "":
		tok, err := LoadToken(c.TokenFile)
		if err != nil {
			return nil, err
		}
		o.Token = tok
	case c.AllowNoToken && IsLoopback(c.Addr):
		o.AllowNoToken = true
	case c.AllowNoToken:
		return nil, fmt.Errorf("HITEXPORT_ADMIN_ALLOW_NO_TOKEN: only allowed with a loopback HITEXPORT_ADMIN_ADDR (127.0.0.1:PORT, [::1]:PORT or localhost:PORT), not %q: set HITEXPORT_ADMIN_TOKEN_FILE", c.Addr)
	default:
		return nil, fmt.Errorf("HITEXPORT_ADMIN_TOKEN_FILE: required to serve the admin API on %s (a file holding the bearer token; without one, only a loopback address with HITEXPORT_ADMIN_ALLOW_NO_TOKEN=true)", c.Addr)
	}
	h, err := NewHandler(o)
	if err != nil {
		return nil, err
	}
	return &http.Server{Addr: c.Addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}, nil
}

// ListenAndServe serves the admin API until ctx ends, then shuts down
// (waiting up to 10 s for requests in flight).
func ListenAndServe(ctx context.Context, c ServerConfig, o Options) error {
	srv, err := NewServer(c, o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("HITEXPORT_ADMIN_ADDR: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	}
}
