package alerts

import (
	"fmt"
	"math/big"
	"strings"
)

// ratioText returns an objective written as a percent ("99.95") as an
// exact decimal ratio ("0.9995").
func ratioText(objective string) (string, error) {
	pct, ok := new(big.Rat).SetString(objective)
	if !ok {
		return "", fmt.Errorf("objective %q is not a number", objective)
	}
	return decimalString(pct.Quo(pct, big.NewRat(100, 1)))
}

// budgetText returns the error budget of an objective written as a percent
// ("99.9") as an exact decimal ratio ("0.001"). Going through big.Rat rather
// than float64 is what keeps 0.0009999999999998899 out of the rules.
func budgetText(objective string) (string, error) {
	pct, ok := new(big.Rat).SetString(objective)
	if !ok {
		return "", fmt.Errorf("objective %q is not a number", objective)
	}
	hundred := big.NewRat(100, 1)
	if pct.Sign() <= 0 || pct.Cmp(hundred) >= 0 {
		return "", fmt.Errorf("objective %q is outside (0,100)", objective)
	}
	budget := new(big.Rat).Sub(hundred, pct)
	budget.Quo(budget, hundred)
	return decimalString(budget)
}

// decimalString prints r exactly, without exponent or trailing zeros. It
// fails for ratios without a finite decimal expansion, which no objective
// written in decimal notation can produce.
func decimalString(r *big.Rat) (string, error) {
	den := new(big.Int).Set(r.Denom())
	digits := 0
	two, five := big.NewInt(2), big.NewInt(5)
	for _, p := range []*big.Int{two, five} {
		n := 0
		m := new(big.Int)
		for {
			q, rem := new(big.Int).QuoRem(den, p, m)
			if rem.Sign() != 0 {
				break
			}
			den = q
			n++
		}
		digits = max(digits, n)
	}
	if den.Cmp(big.NewInt(1)) != 0 {
		return "", fmt.Errorf("%s has no finite decimal expansion", r.RatString())
	}
	s := r.FloatString(digits)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s, nil
}
