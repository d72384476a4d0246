"""The training set where the graph reads it: batches taken on the device, not fed per step.

A Python feed_dict per step copies each batch from numpy into TensorFlow and, on a GPU, to
the device; at the paper's batch of 200 that is 200k copies per 200 epochs of 200k vectors.
Instead the rows live in a variable on the training device (``block``), and each step's
batch is gathered there by an index; a step is fed only two scalars (where its batch starts
and stops).

The batches are exactly the ones a feed of ``vectors[order[start:stop]]`` gave, in the same
order, so losses, resume and the demo's numbers are unchanged:
- whole: a set of at most ``resident_bytes`` is copied into the block once, and each epoch
  loads only its shuffled order (4 bytes a vector);
- slices: a larger set is streamed a slice of the epoch's order at a time (``resident_bytes``
  of rows, read with pread from the file, data_utils.file_rows), so memory stays bounded
  whatever the size of the set.

The block and indices are local variables: never in a checkpoint, never restored.
"""
import numpy as np

# Rows kept on the device: the paper's 200k x 512 (400 MB) whole; a larger set in slices.
RESIDENT_BYTES = 512 << 20
# Rows copied into the block per session.run (bounds the host-side staging copy).
LOAD_BYTES = 32 << 20


def resident_rows(num_rows, dim, batch_size, resident_bytes=None):
    """Rows the block holds: the whole set if it fits in ``resident_bytes`` (default
    RESIDENT_BYTES), else whole batches filling them (at least one batch)."""
    fit = (RESIDENT_BYTES if resident_bytes is None else resident_bytes) // (4 * dim)
    if num_rows <= fit:
        return num_rows
    return max(batch_size, fit // batch_size * batch_size)


class ResidentBatches:
    """Graph side (built before the model, in its graph) and run side of the feeding.

    ``x``, ``spk_idx``, ``spk_means`` are the tensors the model takes as its inputs' defaults
    (model.vae.graph_inputs): an explicit feed of the model's placeholders still wins, as
    speaker_means and extraction do.
    """

    def __init__(self, tf, num_rows, dim, batch_size, num_spk=None, means_dim=None,
                 resident_bytes=None):
        v1 = tf.compat.v1
        self.num_rows, self.dim = int(num_rows), int(dim)
        self.capacity = resident_rows(self.num_rows, self.dim, batch_size, resident_bytes)
        self.whole = self.capacity == self.num_rows
        self._loaded_block = None     # which slice of which epoch the block holds
        self._slice = None

        def local(name, shape, dtype):
            return v1.get_variable(name, shape, dtype, initializer=v1.zeros_initializer(),
                                   trainable=False, use_resource=True,
                                   collections=[v1.GraphKeys.LOCAL_VARIABLES])

        with v1.variable_scope("resident_batches"):
            self.block = local("block", [self.capacity, self.dim], tf.float32)
            # Per slice: each position's row in the block, and its row in the set.
            self.where = local("where", [self.capacity], tf.int32)
            self.rows = local("rows", [self.capacity], tf.int32)
            self.start = v1.placeholder(tf.int32, [], name="start")
            self.stop = v1.placeholder(tf.int32, [], name="stop")
            self._at = v1.placeholder(tf.int32, [], name="at")
            self._values = v1.placeholder(tf.float32, [None, self.dim], name="values")
            self._where_in = v1.placeholder(tf.int32, [None], name="where_in")
            self._rows_in = v1.placeholder(tf.int32, [None], name="rows_in")
            size = tf.shape(self._values)[0]
            self._load_block = self.block[self._at:self._at + size].assign(self._values).op
            count = tf.shape(self._where_in)[0]
            self._load_index = tf.group(self.where[:count].assign(self._where_in),
                                        self.rows[:count].assign(self._rows_in))
            self.x = tf.gather(self.block, self.where[self.start:self.stop])
            init = [self.block.initializer, self.where.initializer, self.rows.initializer]
            self.spk_idx = self.spk_means = self._load_means = None
            if num_spk is not None:
                spk_all = local("spk_index", [self.num_rows], tf.int32)
                self._spk_in = v1.placeholder(tf.int32, [self.num_rows], name="spk_in")
                self._load_spk = spk_all.assign(self._spk_in).op
                self.spk_idx = tf.gather(spk_all, self.rows[self.start:self.stop])
                means = local("spk_means", [num_spk, means_dim], tf.float32)
                self._means_in = v1.placeholder(tf.float32, [num_spk, means_dim], name="means_in")
                self._load_means = means.assign(self._means_in).op
                self.spk_means = means.read_value()
                init.append(spk_all.initializer)
                init.append(means.initializer)
            self._init = tf.group(*init)

    def start_training(self, sess, vectors, spk_index=None):
        """Initialise the block (run once per session, before the first epoch)."""
        sess.run(self._init)
        self._vectors = vectors
        self._loaded_block = None
        if self._load_means is not None:
            sess.run(self._load_spk, {self._spk_in: np.asarray(spk_index, np.int32)})

    def start_epoch(self, sess, order, means=None):
        """The epoch's shuffled order of the rows, and (cvae, dnf) its speaker means."""
        self._order = np.asarray(order)
        self._slice = None
        if means is not None:
            sess.run(self._load_means, {self._means_in: means})

    def batch_feed(self, sess, start, size):
        """The feed of the epoch's batch at order positions [start, start + size): loads the
        slice holding it first if need be (a batch never straddles two slices)."""
        first = start // self.capacity * self.capacity
        if self._slice != first:
            self._load_slice(sess, first)
        return {self.start: start - first, self.stop: start - first + size}

    def _load_slice(self, sess, first):
        rows = self._order[first:first + self.capacity]
        if self.whole:
            if self._loaded_block is None:
                self._load_rows(sess, None)
                self._loaded_block = "all"
            where = rows
        else:
            # Read in file order (sequential preads), then point each position at its row.
            ascending = np.sort(rows)
            self._load_rows(sess, ascending)
            where = np.searchsorted(ascending, rows)
        sess.run(self._load_index, {self._where_in: where.astype(np.int32),
                                    self._rows_in: rows.astype(np.int32)})
        self._slice = first

    def _load_rows(self, sess, rows):
        """Copy ``vectors[rows]`` (all of them, read as runs, when ``rows`` is None) into the
        block, a few MB at a time."""
        step = max(1, LOAD_BYTES // (4 * self.dim))
        count = self.num_rows if rows is None else len(rows)
        for at in range(0, count, step):
            chunk = (self._vectors[at:at + step] if rows is None
                     else self._vectors[rows[at:at + step]])
            sess.run(self._load_block, {self._at: at, self._values: chunk})
