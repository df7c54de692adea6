package main

import (
	"encoding/json"
	"math"
	"slices"
	"time"
)

// spread is the median of a set of per-round values with their min and max.
type spread struct {
	med, min, max float64
	n             int
}

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{med: math.NaN(), min: math.NaN(), max: math.NaN()}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{med: med, min: s[0], max: s[len(s)-1], n: len(s)}
}

// sortedDurations returns a sorted copy.
func sortedDurations(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// ms is a duration in milliseconds as a float.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// us is a duration in microseconds as a float.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// byTarget picks, from rounds of interleaved measurements, the values of one
// target in round order.
func byTarget(rounds [][]round, name string, f func(round) float64) []float64 {
	var out []float64
	for _, rs := range rounds {
		for _, r := range rs {
			if r.target == name {
				out = append(out, f(r))
			}
		}
	}
	return out
}

// ratios divides a by b element-wise (paired rounds).
func ratios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// mustJSON encodes v (which must encode).
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
