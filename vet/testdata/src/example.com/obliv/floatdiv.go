package obliv

import "math"

// Floating-point division by a secret is a finding in an oblivious
// function, and accepted by one whose threat model is memory traces.
//
//confide:oblivious
//confide:secret x
func floatDivStrict(x, pub float64) float64 {
	a := pub / x       // want `secret parameter x of floatDivStrict used as floating-point divisor`
	b := x / pub       // secret dividend: fine
	c := math.Sqrt(x)  // on the allow-list: fine
	d := ratio(pub, x) // want `used as floating-point divisor in oblivious function floatDivStrict via`
	n := int(pub)
	e := 7 / (n + int(x)) // want `used as divisor`
	return a + b + c + d + float64(e)
}

// ratio divides; not oblivious itself, so its callers answer for it.
func ratio(a, b float64) float64 { return a / b }

//confide:oblivious float-division
//confide:secret x
func floatDivAccepted(x, pub float64) float64 {
	a := pub / x                         // accepted
	d := ratio(pub, x)                   // accepted through a helper
	f := func() float64 { return 1 / x } // a closure inherits the option
	n := int(pub)
	e := 7 / (n + int(x))                         // want `used as divisor`
	return a + d + f() + float64(e) + math.Exp(x) // want `used as argument of a function not known to be oblivious`
}

//confide:oblivious sometimes // want `takes no arguments but float-division`
func badOption() {}
