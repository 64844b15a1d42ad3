package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// docs holds the docs page: Swagger UI (swagger-ui-dist 5.35.0,
// Apache-2.0, see docs/swagger-ui-LICENSE) and the page that points it at
// the document. Embedded, so the page loads nothing from a CDN.
//
//go:embed docs
var docs embed.FS

// docsPolicy lets the page run its own scripts and nothing else; Swagger
// UI sets inline styles and uses data: images.
const docsPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func docsPage() http.Handler {
	page, err := docs.ReadFile("docs/index.html")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Security-Policy", docsPolicy)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
}

func docsAssets() http.Handler {
	sub, err := fs.Sub(docs, "docs")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/api/docs/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", docsPolicy)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
