module sessdiag/tools/gcoracle

go 1.19
