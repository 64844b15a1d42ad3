package telemetry

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// BufferedWriter batches the log lines written to w: they are written when
// the buffer fills, every interval, on Flush and on Close. A server that
// logs one line per request otherwise makes one write system call per line
// besides the response's own (CPU profiles of the discovery and
// introspection endpoints under load put it at about a sixth of the
// request). The cost: lines still in the buffer when the process is killed
// are lost, at most interval's worth. NewLogger flushes after every record
// at Warn or above, so warnings and errors, and what preceded them, are
// written at once.
//
// Written here rather than taken from a logging library: it is the one piece
// of zap (zapcore.BufferedWriteSyncer) authd would use, beside log/slog.
type BufferedWriter struct {
	mu     sync.Mutex
	w      *bufio.Writer
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// NewBufferedWriter returns a BufferedWriter of size bytes over w, flushed
// every interval by a goroutine that Close stops.
func NewBufferedWriter(w io.Writer, size int, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{w: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop(interval)
	return b
}

func (b *BufferedWriter) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Write buffers p; once the BufferedWriter is closed it writes p through.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err == nil && b.closed {
		err = b.w.Flush()
	}
	return n, err
}

// Flush writes what is buffered.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close flushes and stops the flushing goroutine. Lines written after Close
// still reach w, each flushed at once.
func (b *BufferedWriter) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	err := b.w.Flush()
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return err
}
