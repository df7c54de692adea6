//go:build !race

package gatewaytest

// raceEnabled is true when the tests run with -race (see race.go).
const raceEnabled = false
