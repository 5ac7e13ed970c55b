// Package spec holds confide's normative format specifications (the
// Markdown files in this directory, indexed by README.md) and their test
// vectors (testdata/*.json). It has no code: its tests run every vector
// through every entry point of the packages that implement the formats,
// and through reference implementations written from the documents alone.
//
//	go test ./spec                              check every vector
//	go test ./spec -run TestVectors -update     regenerate the signed vectors
//	                                            and the fuzz seed corpora
//
// Only the vectors that carry signatures of a simulated platform or a
// development key are regenerated; the others are written by hand, with
// expected values computed independently of confide's code, and must never
// be rewritten from the code they test.
package spec
