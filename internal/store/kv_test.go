package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Dir: dir})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestCommitExpectations(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	defer s.Close()

	if err := s.Commit(ctx, Write{Key: "/a", Value: []byte("1")}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := s.Commit(ctx, Write{Key: "/a", Value: []byte("2")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: got %v, want ErrConflict", err)
	}
	kv, err := s.Get(ctx, "/a")
	if err != nil || string(kv.Value) != "1" {
		t.Fatalf("get after failed create: %q %v", kv.Value, err)
	}
	// A stale revision must not overwrite, and a failed multi-write must apply nothing.
	err = s.Commit(ctx,
		Write{Key: "/b", Value: []byte("x")},
		Write{Key: "/a", Value: []byte("3"), Expect: kv.Revision - 1})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx, "/b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("partial commit left /b behind: %v", err)
	}
	if err := s.Commit(ctx, Write{Key: "/a", Value: []byte("3"), Expect: kv.Revision}); err != nil {
		t.Fatalf("update at current revision: %v", err)
	}
	if err := s.Commit(ctx, Write{Key: "/a", Delete: true, Expect: Any}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Get(ctx, "/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestListPages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	defer s.Close()
	for i := range 5 {
		if err := s.Commit(ctx, Write{Key: fmt.Sprintf("/p/%d", i), Value: []byte{'v'}}); err != nil {
			t.Fatal(err)
		}
	}
	// A key beside the prefix must never leak into the listing.
	if err := s.Commit(ctx, Write{Key: "/q", Value: []byte{'v'}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for {
		page, more, err := s.List(ctx, "/p/", after, 2, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range page {
			got = append(got, kv.Key)
		}
		if !more {
			break
		}
		after = page[len(page)-1].Key
	}
	if fmt.Sprint(got) != "[/p/0 /p/1 /p/2 /p/3 /p/4]" {
		t.Fatalf("pages: %v", got)
	}
	desc, _, err := s.List(ctx, "/p/", "/p/3", 2, true)
	if err != nil || len(desc) != 2 || desc[0].Key != "/p/2" || desc[1].Key != "/p/1" {
		t.Fatalf("descending page before /p/3: %v %v", desc, err)
	}
	many, err := s.GetMany(ctx, []string{"/p/1", "/p/9", "/q"})
	if err != nil || len(many) != 2 || many["/p/9"].Key != "" {
		t.Fatalf("GetMany: %v %v", many, err)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.Commit(ctx, Write{Key: "/k", Value: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dir)
	defer s.Close()
	kv, err := s.Get(ctx, "/k")
	if err != nil || string(kv.Value) != "kept" {
		t.Fatalf("after reopen: %q %v", kv.Value, err)
	}
}

func TestWatchFromListing(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Commit(ctx, Write{Key: "/w/a", Value: []byte("1"), Expect: Any}); err != nil {
		t.Fatal(err)
	}
	kvs, rev, err := s.ListAll(ctx, "/w/")
	if err != nil || len(kvs) != 1 {
		t.Fatalf("ListAll = %v, %v", kvs, err)
	}
	// A change made between the listing and the watch must still be seen.
	if err := s.Commit(ctx, Write{Key: "/w/b", Value: []byte("2"), Expect: Any}); err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, "/w/", rev)
	if err := s.Commit(ctx, Write{Key: "/w/a", Delete: true, Expect: Any}, Write{Key: "/x", Value: []byte("other prefix"), Expect: Any}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		for _, ev := range <-ch {
			got = append(got, fmt.Sprintf("%s deleted=%v", ev.Key, ev.Deleted))
		}
	}
	want := []string{"/w/b deleted=false", "/w/a deleted=true"}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
	cancel()
	for range ch {
	}
}

// GetMany reads more keys at once than etcd's default transaction limit of 128.
func TestGetManyBeyond128Keys(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	keys := make([]string, 500)
	for i := range keys {
		keys[i] = fmt.Sprintf("/many/%03d", i)
		if err := s.Commit(ctx, Write{Key: keys[i], Value: []byte("v"), Expect: Any}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetMany(ctx, keys)
	if err != nil || len(got) != len(keys) {
		t.Fatalf("GetMany of %d keys: %d found, %v", len(keys), len(got), err)
	}
}
