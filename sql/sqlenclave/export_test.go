package sqlenclave

// ParseBody is parseBody, for the fuzz target: the body parser is reached
// only after the GCM tag verifies, which a fuzzer cannot forge.
var ParseBody = parseBody
