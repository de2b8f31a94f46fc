// Package hidden is internal: not part of the API.
package hidden

// X is exported from an internal package.
var X = 1
