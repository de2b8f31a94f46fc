//go:build race

package task_test

// raceEnabled: the race detector slows Redis round trips about fivefold, so
// the state-machine test runs fewer checks.
const raceEnabled = true
