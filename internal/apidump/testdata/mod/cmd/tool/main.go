// Command tool is not part of the API.
package main

// Exported is in a main package.
func Exported() {}

func main() {}
