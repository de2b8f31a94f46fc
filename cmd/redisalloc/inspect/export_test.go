package inspect

// ScriptStats exposes the INFO commandstats parser to the tests.
var ScriptStats = scriptStats
