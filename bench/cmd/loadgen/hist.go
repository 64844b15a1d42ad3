package main

import (
	"math"
	"math/bits"
	"time"
)

// histSubBits sets the histogram's precision: every power-of-two range of
// latencies is split into 1<<histSubBits equal buckets, so a bucket is at most
// 1/256 of its lower bound wide and a reported value (the bucket's midpoint,
// clamped to the observed min/max) is within 0.2% of the true sample.
const (
	histSubBits = 8
	histSub     = 1 << histSubBits
)

// histogram is an HDR-like log-linear latency histogram over nanoseconds. It
// has bounded memory (at most ~14k counters, allocated as needed) whatever the
// number of samples, and is not safe for concurrent use: each worker owns one
// and they are merged when the run ends.
type histogram struct {
	counts []uint64
	n      uint64
	sum    float64 // nanoseconds, for the mean
	min    int64
	max    int64
}

func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	if u < 2*histSub {
		return int(u)
	}
	shift := bits.Len64(u) - (histSubBits + 1)
	return shift*histSub + int(u>>uint(shift)) // #nosec G115 -- u>>shift < 2*histSub
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (low, width int64) {
	if i < 2*histSub {
		return int64(i), 1
	}
	shift := i/histSub - 1
	mant := int64(i - shift*histSub)
	return mant << uint(shift), int64(1) << uint(shift)
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	i := bucketOf(v)
	if i >= len(h.counts) {
		h.grow(i + 1)
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *histogram) grow(n int) {
	if n <= len(h.counts) {
		return
	}
	// Grow geometrically so recording stays amortised O(1).
	c := max(n, 2*len(h.counts), 4*histSub)
	nc := make([]uint64, c)
	copy(nc, h.counts)
	h.counts = nc
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	h.grow(len(o.counts))
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the nearest-rank q-quantile (0 < q <= 1): the smallest
// recorded value such that at least q of all samples are <= it, to within
// the bucket precision. It returns 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketRange(i)
			v := low + (width-1)/2
			v = min(max(v, h.min), h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}
