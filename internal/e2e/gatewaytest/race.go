//go:build race

package gatewaytest

// raceEnabled is true when the tests run with -race: the binaries are then
// built with -race too, which reuses the packages the test build compiled and
// makes the gateway report its own data races.
const raceEnabled = true
