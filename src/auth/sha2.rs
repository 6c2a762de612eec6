//! SHA-256 and SHA-512 (FIPS 180-4), std only, for password hashing in `sha_crypt` (and the
//! digest comparison of `-u` passwords in `auth`).
//!
//! Written here rather than pulled in as a crate: see `sha_crypt` for the decision and why.
//! The tests carry the FIPS 180-4 examples, the million-`a` message fed in odd pieces and every
//! length across the padding boundaries. Neither hash is used for anything secret-dependent in
//! its control flow: the message schedule and rounds do the same work whatever the input bytes
//! are.

/// The interface `sha_crypt` needs: one algorithm works over both hashes.
pub trait Digest {
    /// The finished hash, a byte array of the algorithm's output length.
    type Output: AsRef<[u8]> + Copy;

    /// A fresh hashing state.
    fn new() -> Self;

    /// Appends `data` to the message.
    fn update(&mut self, data: &[u8]);

    /// Pads the message and returns its hash.
    fn finalize(self) -> Self::Output;

    /// Hashes `data` in one call (the vector tests; sha_crypt feeds its state piece by piece).
    #[cfg(test)]
    fn digest(data: &[u8]) -> Self::Output
    where
        Self: Sized,
    {
        let mut state = Self::new();
        state.update(data);
        state.finalize()
    }
}

const SHA256_INIT: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

const SHA256_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

const SHA512_INIT: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

const SHA512_K: [u64; 80] = [
    0x428a2f98d728ae22,
    0x7137449123ef65cd,
    0xb5c0fbcfec4d3b2f,
    0xe9b5dba58189dbbc,
    0x3956c25bf348b538,
    0x59f111f1b605d019,
    0x923f82a4af194f9b,
    0xab1c5ed5da6d8118,
    0xd807aa98a3030242,
    0x12835b0145706fbe,
    0x243185be4ee4b28c,
    0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f,
    0x80deb1fe3b1696b1,
    0x9bdc06a725c71235,
    0xc19bf174cf692694,
    0xe49b69c19ef14ad2,
    0xefbe4786384f25e3,
    0x0fc19dc68b8cd5b5,
    0x240ca1cc77ac9c65,
    0x2de92c6f592b0275,
    0x4a7484aa6ea6e483,
    0x5cb0a9dcbd41fbd4,
    0x76f988da831153b5,
    0x983e5152ee66dfab,
    0xa831c66d2db43210,
    0xb00327c898fb213f,
    0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2,
    0xd5a79147930aa725,
    0x06ca6351e003826f,
    0x142929670a0e6e70,
    0x27b70a8546d22ffc,
    0x2e1b21385c26c926,
    0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df,
    0x650a73548baf63de,
    0x766a0abb3c77b2a8,
    0x81c2c92e47edaee6,
    0x92722c851482353b,
    0xa2bfe8a14cf10364,
    0xa81a664bbc423001,
    0xc24b8b70d0f89791,
    0xc76c51a30654be30,
    0xd192e819d6ef5218,
    0xd69906245565a910,
    0xf40e35855771202a,
    0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8,
    0x1e376c085141ab53,
    0x2748774cdf8eeb99,
    0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63,
    0x4ed8aa4ae3418acb,
    0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc,
    0x78a5636f43172f60,
    0x84c87814a1f0ab72,
    0x8cc702081a6439ec,
    0x90befffa23631e28,
    0xa4506cebde82bde9,
    0xbef9a3f7b2c67915,
    0xc67178f2e372532b,
    0xca273eceea26619c,
    0xd186b8c721c0c207,
    0xeada7dd6cde0eb1e,
    0xf57d4f7fee6ed178,
    0x06f067aa72176fba,
    0x0a637dc5a2c898a6,
    0x113f9804bef90dae,
    0x1b710b35131c471b,
    0x28db77f523047d84,
    0x32caab7b40c72493,
    0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6,
    0x597f299cfc657e2a,
    0x5fcb6fab3ad6faec,
    0x6c44198c4a475817,
];

/// Buffers input into fixed-size blocks and feeds them to a compression function; shared by both
/// hashes so the padding logic exists once.
#[derive(Clone, Copy)]
struct BlockBuffer<const N: usize> {
    block: [u8; N],
    filled: usize,
    /// Message length in bytes; u128 so SHA-512's 128-bit length field is exact.
    total_len: u128,
}

impl<const N: usize> BlockBuffer<N> {
    fn new() -> Self {
        BlockBuffer {
            block: [0; N],
            filled: 0,
            total_len: 0,
        }
    }

    fn update(&mut self, mut data: &[u8], mut compress: impl FnMut(&[u8; N])) {
        self.total_len = self.total_len.wrapping_add(data.len() as u128);
        if self.filled > 0 {
            let take = (N - self.filled).min(data.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled < N {
                return;
            }
            compress(&self.block);
            self.filled = 0;
        }
        let mut blocks = data.chunks_exact(N);
        for block in &mut blocks {
            // chunks_exact yields only N-byte slices, so the conversion cannot fail.
            if let Ok(whole) = <&[u8; N]>::try_from(block) {
                compress(whole);
            }
        }
        let rest = blocks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// Appends the 0x80 marker, zeros, and the big-endian bit length in the last `len_bytes`.
    fn pad(&mut self, len_bytes: usize, mut compress: impl FnMut(&[u8; N])) {
        let bit_len = self.total_len.wrapping_mul(8).to_be_bytes();
        self.block[self.filled] = 0x80;
        self.filled += 1;
        if self.filled > N - len_bytes {
            self.block[self.filled..].fill(0);
            compress(&self.block);
            self.filled = 0;
        }
        self.block[self.filled..N - len_bytes].fill(0);
        self.block[N - len_bytes..].copy_from_slice(&bit_len[16 - len_bytes..]);
        compress(&self.block);
        self.filled = 0;
    }
}

/// SHA-256 hashing state.
#[derive(Clone, Copy)]
pub struct Sha256 {
    state: [u32; 8],
    buffer: BlockBuffer<64>,
}

impl Digest for Sha256 {
    type Output = [u8; 32];

    fn new() -> Self {
        Sha256 {
            state: SHA256_INIT,
            buffer: BlockBuffer::new(),
        }
    }

    fn update(&mut self, data: &[u8]) {
        let state = &mut self.state;
        self.buffer
            .update(data, |block| sha256_compress(state, block));
    }

    fn finalize(mut self) -> [u8; 32] {
        let state = &mut self.state;
        self.buffer.pad(8, |block| sha256_compress(state, block));
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

fn sha256_compress(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for t in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(SHA256_K[t])
            .wrapping_add(w[t]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (word, add) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *word = word.wrapping_add(add);
    }
}

/// SHA-512 hashing state.
#[derive(Clone, Copy)]
pub struct Sha512 {
    state: [u64; 8],
    buffer: BlockBuffer<128>,
}

impl Digest for Sha512 {
    type Output = [u8; 64];

    fn new() -> Self {
        Sha512 {
            state: SHA512_INIT,
            buffer: BlockBuffer::new(),
        }
    }

    fn update(&mut self, data: &[u8]) {
        let state = &mut self.state;
        self.buffer
            .update(data, |block| sha512_compress(state, block));
    }

    fn finalize(mut self) -> [u8; 64] {
        let state = &mut self.state;
        self.buffer.pad(16, |block| sha512_compress(state, block));
        let mut out = [0u8; 64];
        for (chunk, word) in out.chunks_exact_mut(8).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

fn sha512_compress(state: &mut [u64; 8], block: &[u8; 128]) {
    let mut w = [0u64; 80];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(8)) {
        let mut be = [0u8; 8];
        be.copy_from_slice(bytes);
        *word = u64::from_be_bytes(be);
    }
    for t in 16..80 {
        let s0 = w[t - 15].rotate_right(1) ^ w[t - 15].rotate_right(8) ^ (w[t - 15] >> 7);
        let s1 = w[t - 2].rotate_right(19) ^ w[t - 2].rotate_right(61) ^ (w[t - 2] >> 6);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for t in 0..80 {
        let s1 = e.rotate_right(14) ^ e.rotate_right(18) ^ e.rotate_right(41);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(SHA512_K[t])
            .wrapping_add(w[t]);
        let s0 = a.rotate_right(28) ^ a.rotate_right(34) ^ a.rotate_right(39);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (word, add) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *word = word.wrapping_add(add);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const MSG_448: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    const MSG_896: &[u8] = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn\
hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

    #[test]
    fn sha256_known_answers() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                MSG_448,
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                MSG_896,
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(hex(&Sha256::digest(msg)), want, "message {msg:?}");
        }
    }

    #[test]
    fn sha512_known_answers() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"abc",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            (
                b"",
                "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                 47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            ),
            (
                MSG_448,
                "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335\
                 96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445",
            ),
            (
                MSG_896,
                "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018\
                 501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(hex(&Sha512::digest(msg)), want, "message {msg:?}");
        }
    }

    #[test]
    fn million_a_fed_in_odd_pieces() {
        // Uneven piece sizes exercise every path through the block buffer.
        let piece = [b'a'; 997];
        let mut sha256 = Sha256::new();
        let mut sha512 = Sha512::new();
        let mut left = 1_000_000;
        while left > 0 {
            let n = left.min(piece.len());
            sha256.update(&piece[..n]);
            sha512.update(&piece[..n]);
            left -= n;
        }
        assert_eq!(
            hex(&sha256.finalize()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        assert_eq!(
            hex(&sha512.finalize()),
            "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb\
             de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"
        );
    }

    #[test]
    fn every_length_across_the_padding_boundaries() {
        // Digests of bytes 0..n for n in 0..300, each hashed in two uneven pieces and chained
        // into one outer hash; the expected values come from Python's hashlib.
        let mut outer256 = Sha256::new();
        let mut outer512 = Sha512::new();
        for len in 0..300usize {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut inner256 = Sha256::new();
            inner256.update(&msg[..len / 3]);
            inner256.update(&msg[len / 3..]);
            outer256.update(&inner256.finalize());
            let mut inner512 = Sha512::new();
            inner512.update(&msg[..len / 3]);
            inner512.update(&msg[len / 3..]);
            outer512.update(&inner512.finalize());
        }
        assert_eq!(
            hex(&outer256.finalize()),
            "df90175783c44235cf6aefd935a2c2747f42399416d16789ece339f1fd26d835"
        );
        assert_eq!(
            hex(&outer512.finalize()),
            "97248248ab8e9324b9577e93acd92914d32bb25edcacbb91edb75576dea14781\
             b5b477c027835c43a08ddc16cbbcd6d067d159897e5c18aa43aeeb2e49811bb3"
        );
    }
}
