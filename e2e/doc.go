// Package e2e holds the end-to-end tests that need heavy tools the library
// must not depend on: Jaeger all-in-one (a Go tool of this module) for the
// trace test and Chromium (driven through chromedp) for the dashboard test.
// It is a separate module so that the library's go.mod stays lean.
package e2e
