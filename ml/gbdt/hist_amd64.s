//go:build !purego

#include "textflag.h"

// Rows ahead whose gradient pair and bins are prefetched.
#define AHEAD 16

// func accumulateAsm(h *binStat, rows []uint32, bins *uint8, gp *gradPair, nf int)
//
// For each row r in rows, for each feature f < nf: h[f*256+bins[r*nf+f]]
// += (gp[r].g, gp[r].h), converted to float64 — the same additions in the
// same order as accumulateGo, two lanes at a time (ADDPD).
TEXT ·accumulateAsm(SB), NOSPLIT, $0-56
	MOVQ h+0(FP), DI
	MOVQ rows_base+8(FP), SI
	MOVQ rows_len+16(FP), CX
	MOVQ bins+32(FP), R8
	MOVQ gp+40(FP), R9
	MOVQ nf+48(FP), R10
	MOVQ R10, R14
	ANDQ $~3, R14           // features handled four at a time
	MOVQ CX, R12
	SUBQ $AHEAD, R12        // last row index that has a row AHEAD of it
	XORQ R11, R11           // i

row:
	CMPQ R11, CX
	JGE  done
	CMPQ R11, R12
	JGE  noprefetch
	MOVLQZX (AHEAD*4)(SI)(R11*4), AX
	PREFETCHT0 (R9)(AX*8)
	IMULQ R10, AX
	PREFETCHT0 (R8)(AX*1)
	LEAQ -1(R10)(AX*1), AX
	PREFETCHT0 (R8)(AX*1)

noprefetch:
	MOVLQZX (SI)(R11*4), AX
	MOVQ (R9)(AX*8), X0
	CVTPS2PD X0, X0         // (g, h) as float64
	IMULQ R10, AX
	LEAQ (R8)(AX*1), DX     // the row's bins
	MOVQ DI, BX             // the histogram of feature f
	XORQ R13, R13           // f

four:
	CMPQ R13, R14
	JGE  one
	MOVBQZX (DX)(R13*1), AX
	SHLQ $4, AX
	MOVUPD (BX)(AX*1), X1
	ADDPD X0, X1
	MOVUPD X1, (BX)(AX*1)
	MOVBQZX 1(DX)(R13*1), AX
	SHLQ $4, AX
	MOVUPD 4096(BX)(AX*1), X2
	ADDPD X0, X2
	MOVUPD X2, 4096(BX)(AX*1)
	MOVBQZX 2(DX)(R13*1), AX
	SHLQ $4, AX
	MOVUPD 8192(BX)(AX*1), X3
	ADDPD X0, X3
	MOVUPD X3, 8192(BX)(AX*1)
	MOVBQZX 3(DX)(R13*1), AX
	SHLQ $4, AX
	MOVUPD 12288(BX)(AX*1), X4
	ADDPD X0, X4
	MOVUPD X4, 12288(BX)(AX*1)
	ADDQ $16384, BX
	ADDQ $4, R13
	JMP  four

one:
	CMPQ R13, R10
	JGE  next
	MOVBQZX (DX)(R13*1), AX
	SHLQ $4, AX
	MOVUPD (BX)(AX*1), X1
	ADDPD X0, X1
	MOVUPD X1, (BX)(AX*1)
	ADDQ $4096, BX
	INCQ R13
	JMP  one

next:
	INCQ R11
	JMP  row

done:
	RET
