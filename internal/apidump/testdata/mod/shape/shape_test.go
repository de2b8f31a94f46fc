package shape

// OnlyInTests is in a test file: not part of the API.
func OnlyInTests() {}
