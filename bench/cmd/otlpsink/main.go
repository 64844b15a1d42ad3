// Command otlpsink is the cheapest OTLP/HTTP trace receiver: it answers
// every export to /v1/traces with success and counts the requests, so that
// a benchmark with tracing on measures authd, not a collector.
//
//	otlpsink -addr 127.0.0.1:4318
//	AFTER_ENV="AUTHD_TELEMETRY_OTLP_ENDPOINT=http://127.0.0.1:4318 AUTHD_TELEMETRY_SAMPLING_RATIO=0.01" bench/ab.sh HEAD HEAD
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4318", "loopback address to listen on")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("otlpsink: -addr must be a loopback host:port, got %q", *addr)
	}
	var exports, bytes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		exports.Add(1)
		bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty ExportTraceServiceResponse is zero bytes
	})
	go func() {
		for range time.Tick(10 * time.Second) {
			log.Printf("otlpsink: %d exports, %d bytes", exports.Load(), bytes.Load())
		}
	}()
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
