//go:build !purego

package gbdt

// accumulateAsm is accumulateGo in assembly (hist_amd64.s), with
// software prefetching of the rows ahead, which XGBoost also does: the
// rows of a deep node are scattered, and waiting for each one's bins and
// gradient was most of the time spent building histograms.
//
//go:noescape
func accumulateAsm(h *binStat, rows []uint32, bins *uint8, gp *gradPair, nf int)

func accumulate(h histogram, rows []uint32, bins []uint8, gp []gradPair, nf int) {
	if len(rows) == 0 {
		return
	}
	checkAccumulate(h, rows, bins, gp, nf)
	accumulateAsm(&h[0][0], rows, &bins[0], &gp[0], nf)
}
