package redisx

import "testing"

// TestSplitCodeFindsRaisedCorrupt: the CORRUPT a script raises with error()
// is found in the text each server wraps around it, without that text.
func TestSplitCodeFindsRaisedCorrupt(t *testing.T) {
	t.Parallel()
	for name, reply := range map[string]string{
		"Redis":     "CORRUPT k:{p}:free is a string, want a zset script: 2426af36602ee2622404f632e81d8e4897ce2434, on @user_script:45.",
		"RedisERR":  "ERR CORRUPT k:{p}:free is a string, want a zset script: 2426af36602ee2622404f632e81d8e4897ce2434, on @user_script:45.",
		"Miniredis": "Error compiling script (new function): CORRUPT k:{p}:free is a string, want a zset stack traceback:\n\t[G]: in function 'error'",
		"Reply":     "CORRUPT k:{p}:free is a string, want a zset",
	} {
		code, msg := splitCode(reply)
		if code != "CORRUPT" || msg != "k:{p}:free is a string, want a zset" {
			t.Errorf("%s: splitCode(%q) = %q, %q", name, reply, code, msg)
		}
	}
}
