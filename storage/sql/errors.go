package sql

import (
	"fmt"

	"github.com/authd/authd/storage"
)

func storageErrNotFound(cause error) error {
	return fmt.Errorf("%w: %w", storage.ErrNotFound, cause)
}

func storageErrConflict(cause error) error {
	return fmt.Errorf("%w: %w", storage.ErrConflict, cause)
}
