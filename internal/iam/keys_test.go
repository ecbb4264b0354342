package iam

import (
	"context"
	"strings"
	"testing"

	"gantry/internal/store"
)

func TestRootKeyCreatedOnceAndReused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	d, first, err := Open(ctx, st, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.ID, "AKIA") || len(first.ID) != 20 || len(first.Secret) != 40 {
		t.Fatalf("root key shape: id %q (%d), secret length %d", first.ID, len(first.ID), len(first.Secret))
	}
	if got, ok := d.SecretFor(first.ID); !ok || got != first.Secret {
		t.Fatalf("SecretFor(root) = %q, %v", got, ok)
	}
	if _, ok := d.SecretFor("AKIANOTAKEY"); ok {
		t.Fatal("unknown key id was accepted")
	}
	if p := d.PrincipalFor(first.ID); p != "arn:aws:iam::123456789012:root" {
		t.Fatalf("principal: %q", p)
	}
	if p, ok := d.Authenticate(first.ID, first.Secret); !ok || p != "arn:aws:iam::123456789012:root" {
		t.Fatalf("Authenticate with the right secret: %q %v", p, ok)
	}
	if _, ok := d.Authenticate(first.ID, first.Secret+"x"); ok {
		t.Fatal("Authenticate accepted a wrong secret")
	}
	st.Close()

	st, err = store.Open(ctx, store.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, again, err := Open(ctx, st, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.Secret != first.Secret {
		t.Fatalf("root key changed across restarts: %s then %s", first.ID, again.ID)
	}
}
