// Package static holds the hosted pages' stylesheet, their one script
// (password.js: show-password toggles) and any small assets,
// embedded into the binary, and serves them under /static/.
//
// URLs carry a content hash (Path("style.css") is
// "/static/style.css?v=<hash>"), so a response for the current hash may be
// cached for a year and an edited file is fetched at once.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Prefix is the URL path the assets are served under.
const Prefix = "/static/"

//go:embed *.css *.svg *.js
var files embed.FS

// FS holds the assets.
var FS fs.FS = files

// hashes maps an asset name to the first 16 hex digits of its SHA-256.
var hashes = func() map[string]string {
	m := map[string]string{}
	entries, _ := fs.ReadDir(files, ".")
	for _, e := range entries {
		b, err := fs.ReadFile(files, e.Name())
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		m[e.Name()] = hex.EncodeToString(sum[:8])
	}
	return m
}()

// Path returns the versioned URL path of asset name, or "" when there is no
// such asset.
func Path(name string) string {
	h, ok := hashes[name]
	if !ok {
		return ""
	}
	return Prefix + name + "?v=" + h
}

// Handler serves the assets; mount it at Prefix. Requests naming the
// current version are cacheable for a year; others revalidate.
func Handler() http.Handler {
	fsrv := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), Prefix)
		h, ok := hashes[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") == h {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		fsrv.ServeHTTP(w, r2)
	})
}
