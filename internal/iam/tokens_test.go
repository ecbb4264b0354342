package iam

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gantry/internal/store"
)

func TestJoinTokensWorkOnce(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, _, err := Open(ctx, st, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := d.CreateJoinToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// wrongSecret differs from tok in one secret character (whatever that character is).
	flipped := byte('0')
	if tok[13] == '0' {
		flipped = '1'
	}
	wrongSecret := tok[:13] + string(flipped) + tok[14:]
	for _, bad := range []string{"", "nodot", tok + "x", "ffffffffffff.0000", wrongSecret} {
		if err := d.RedeemJoinToken(ctx, bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("RedeemJoinToken(%q) = %v, want ErrBadToken", bad, err)
		}
	}
	// Redeemed concurrently, a token works exactly once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 4 {
		wg.Go(func() {
			if d.RedeemJoinToken(ctx, tok) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("token redeemed %d times, want once", wins)
	}
	expired, _, _ := d.CreateJoinToken(ctx, -time.Second)
	if err := d.RedeemJoinToken(ctx, expired); !errors.Is(err, ErrBadToken) {
		t.Fatalf("expired token: %v", err)
	}
	key, err := d.CreateKey(ctx, "arn:aws:iam::123456789012:role/agent")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := d.Authenticate(key.ID, key.Secret); !ok || p != "arn:aws:iam::123456789012:role/agent" {
		t.Fatalf("new key: %q %v", p, ok)
	}
}
