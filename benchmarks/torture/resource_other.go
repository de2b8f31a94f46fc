//go:build !unix

package main

import "errors"

// resourceWrite needs flock: the torture run is for Unix systems.
func resourceWrite(string, string, int64, string) (bool, int64, string, error) {
	return false, 0, "", errors.New("torture: the fenced resource needs flock (Unix)")
}
