//go:build !amd64 || purego

package gbdt

func accumulate(h histogram, rows []uint32, bins []uint8, gp []gradPair, nf int) {
	accumulateGo(h, rows, bins, gp, nf)
}
