// Package grammar exercises misuses of the annotation grammar.
package grammar

// want +2 `annotation: //confide:secret names nosuch, which is not a parameter, receiver or named result of f`
//
//confide:secret nosuch
func f(a int) {}

// want +2 `annotation: //confide:secret without names marks the results secret, but g has no results other than errors`
//
//confide:secret
func g() error { return nil }

// want +2 `annotation: //confide:declassify takes no arguments`
//
//confide:declassify please
func h() []byte { return nil }

// want +2 `annotation: misplaced //confide:oblivious`
//
//confide:oblivious
type T struct{}

// want +2 `annotation: unknown directive //confide:obliviuos`
//
//confide:obliviuos
func typo() {}

// want +2 `annotation: //confide:secret on a grouped declaration`
//
//confide:secret
var (
	a = 1
	b = 2
)

func inBody() {
	// want +1 `annotation: misplaced //confide:secret`
	//confide:secret
	x := 1
	_ = x
}
