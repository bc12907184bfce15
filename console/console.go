// Package console serves the integrations console: a small web page, in
// plain HTML, CSS and JavaScript embedded in the binary, that manages the
// integrations through the admin API (/api/v1/integrations) of the same
// origin, with the admin token as the bearer header.
//
// Serve it at "/" of the admin address, next to the API, with Mount:
//
//	srv.Handler = console.Mount(api) // /api/… → api, everything else → the console
//
// The page needs nothing from elsewhere: no build step, no framework, no
// assets from other origins, no cookies. Every response carries a strict
// Content-Security-Policy (scripts, styles and connections only from the
// same origin, no inline script or style, no framing).
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every response of the console.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'none'; object-src 'none'; media-src 'none'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file, served with its own content type and ETag.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// files maps a request path to the embedded file it serves.
var files = map[string]string{
	"/":            "index.html",
	"/index.html":  "index.html",
	"/console.js":  "console.js",
	"/console.css": "console.css",
	"/favicon.svg": "favicon.svg",
	"/favicon.ico": "favicon.svg",
}

var ctypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Assets returns the embedded files (name → content), for tests and tools.
func Assets() map[string][]byte {
	out := map[string][]byte{}
	_ = fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err == nil {
			out[path.Base(p)] = b
		}
		return err
	})
	return out
}

// SetHeaders sets the security headers every console response carries.
func SetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

// Handler serves the console's page ("/") and its assets. Any other path is
// 404 and any method but GET and HEAD is 405, both with the same headers.
func Handler() http.Handler {
	assets := map[string]*asset{}
	for name, b := range Assets() {
		sum := sha256.Sum256(b)
		assets[name] = &asset{body: b, ctype: ctypes[path.Ext(name)], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetHeaders(w.Header())
		name, ok := files[r.URL.Path]
		a := assets[name]
		if !ok || a == nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", a.ctype)
		// Revalidate every time (an upgraded binary serves new files at once);
		// the ETag makes that a 304 when nothing changed.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", a.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}

// Mount returns the admin address's handler: every path under /api/ goes to
// api (the admin API, unchanged), every other path to the console.
func Mount(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/", Handler())
	return mux
}
