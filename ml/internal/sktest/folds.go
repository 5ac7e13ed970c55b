package sktest

import "math/rand/v2"

// Folds assigns n rows to k folds after a seeded shuffle: fold[i] is row
// i's. Both sides of a comparison use the same assignment.
func Folds(n, k int, seed uint64) []int {
	perm := rand.New(rand.NewPCG(seed, 1)).Perm(n)
	fold := make([]int, n)
	for i, r := range perm {
		fold[r] = i % k
	}
	return fold
}
