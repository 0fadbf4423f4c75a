// Single-precision GEMM for row-major matrices: a register-blocked SIMD kernel over packed B
// panels (Goto/BLIS blocking) that reaches BLAS speed on one core, parallel over row blocks or,
// for products with few rows, column runs.

/// Blocking sizes: an `mc`×`kc` block of A stays in L2, a `kc`×16 sliver of B in L1 (see `kBlock`
/// for products with k ≤ 2·kc). A is mostly not packed: the micro-kernel reads its six rows in
/// place (rows or columns of the stored matrix), which saves a copy that cost as much as 10 % of
/// a product with few columns; only a transposed A with long rows is copied (`gemmPackTransposedA`).
@usableFromInline let gemmMC = 144
@usableFromInline let gemmKC = 384
@usableFromInline let gemmNC = 4096
@usableFromInline let gemmMR = 6
@usableFromInline let gemmNR = 16

/// The k block of a product: all of k up to 2·kc, so that C is written once (a second pass over
/// a C of many megabytes, like GPT-2's logits, costs more than B slivers read from L2), else kc.
@inline(__always)
func kBlock(_ k: Int) -> Int { k <= 2 * gemmKC ? k : gemmKC }

/// C[m, n] (+)= op(A)[m, k] · op(B)[k, n], all row-major.
///
/// - `transA`: A is stored as [k, m] (leading dimension `lda`), else as [m, k].
/// - `transB`: B is stored as [n, k] (leading dimension `ldb`), else as [k, n].
/// - `accumulate`: add to C instead of overwriting it.
/// - `threads`: the most threads to use; small products run on the calling thread.
public func sgemm(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, threads: Int = Parallel.threads
) {
  if m == 0 || n == 0 { return }
  if k == 0 {
    if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
    return
  }
  // op(A) is read in place: element (i, p) at a[i·rowStride + p·kStride].
  let (rowStride, kStride) = transA ? (1, lda) : (lda, 1)
  let strided = StridedA(base: a, rowStride: rowStride, kStride: kStride)
  if m <= gemvMaxRows {
    sgemv(transB: transB, m: m, n: n, k: k, x: strided, b: b, ldb: ldb, y: c, ldy: ldc, accumulate: accumulate, threads: threads)
    return
  }
  let flops = 2 * m * n * k
  let threads = flops < 2_000_000 ? 1 : threads
  // Few rows (the weight gradients Xᵀ·dY) and enough column panels to share out: threads split
  // the columns. With many rows, splitting them keeps each thread on the rows it wrote in the
  // previous op, which measured faster in training steps even where isolated products were not.
  if threads > 1 && m <= gemmFewRows && (n + gemmNR - 1) / gemmNR >= 2 * threads {
    sgemmByColumns(transB: transB, m: m, n: n, k: k, a: strided, b: b, ldb: ldb, c: c, ldc: ldc,
                   accumulate: accumulate, threads: threads)
  } else {
    sgemmByRows(transB: transB, m: m, n: n, k: k, a: strided, b: b, ldb: ldb, c: c, ldc: ldc,
                accumulate: accumulate, threads: threads)
  }
}

/// Products with at most this many rows read B unpacked (`sgemv`): a row's result is then the
/// same for any row count up to it (batched decoding gives each slot the bits it gets alone).
public let gemvMaxRows = 8

/// `sgemmByRows` copies a transposed A into tiles when its rows are at least this long (floats)
/// and a task runs the copy over at least `gemmPackTransposedAPanels` column panels. Measured on
/// one core (alternating runs, medians): 384-float rows are faster copied when there are many
/// panels (the baby GPT's weight gradients, Aᵀ·B 384×1152×16384: ~97 → ~102 GFLOP/s; 768×2304×1024:
/// 90 → 98–105), and in place with few (Aᵀ·B 512×128×768, 8 panels: ~103 vs ~101).
let gemmPackTransposedA = 384
let gemmPackTransposedAPanels = 16

/// Copies rows 0..<mb, k 0..<kb of op(A) = Aᵀ (A stored [k, m] from `a`, leading dimension
/// `lda`) into zero-padded 6-row tiles: [tile][p][6].
func packTransposedA(_ a: UnsafePointer<Float>, lda: Int, mb: Int, kb: Int, into dst: UnsafeMutablePointer<Float>) {
  var out = dst
  for i in stride(from: 0, to: mb, by: gemmMR) {
    let rows = min(gemmMR, mb - i)
    if rows == gemmMR {
      // A whole tile: six floats per k, copied as 4 + 2.
      for p in 0..<kb {
        let src = UnsafeRawPointer(a + p * lda + i), o = UnsafeMutableRawPointer(out)
        o.storeBytes(of: src.loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
        o.storeBytes(of: src.loadUnaligned(fromByteOffset: 16, as: SIMD2<Float>.self), toByteOffset: 16, as: SIMD2<Float>.self)
        out += gemmMR
      }
    } else {
      for p in 0..<kb {
        let src = a + p * lda + i
        for r in 0..<gemmMR { out[r] = r < rows ? src[r] : 0 }
        out += gemmMR
      }
    }
  }
}

/// Products with at most this many rows split their columns between threads (`sgemmByColumns`).
let gemmFewRows = 2 * gemmMC

/// op(A) as the micro-kernel reads it, in place: element (i, p) at `base[i·rowStride + p·kStride]`.
struct StridedA: @unchecked Sendable {
  let base: UnsafePointer<Float>, rowStride: Int, kStride: Int
  /// The element (i, p).
  func at(_ i: Int, _ p: Int) -> UnsafePointer<Float> { base + i * rowStride + p * kStride }
}

/// The general case: B is packed once per (k, n) block, shared by all threads (packing split
/// between them), then the row blocks are shared out. Two barriers per block.
func sgemmByRows(transB: Bool, m: Int, n: Int, k: Int, a: StridedA, b: UnsafePointer<Float>, ldb: Int,
                 c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, threads: Int) {
  let bPanelsMax = (min(n, gemmNC) + gemmNR - 1) / gemmNR
  // Packing buffers come from the storage pool: fresh multi-megabyte allocations would fault
  // their pages in on every call.
  let kc = kBlock(k)
  let packedBStorage = Storage(count: bPanelsMax * gemmNR * kc, zeroed: false)
  defer { withExtendedLifetime(packedBStorage) {} }
  let (bSend, cSend, pbSend) = (UncheckedSendable(b), UncheckedSendable(c), UncheckedSendable(packedBStorage.base))

  var jc = 0
  while jc < n {
    let nb = min(gemmNC, n - jc)
    let nPanels = (nb + gemmNR - 1) / gemmNR
    var pc = 0
    while pc < k {
      let kb = min(kc, k - pc)
      let add = accumulate || pc > 0
      // Pack B[pc..<pc+kb, jc..<jc+nb] as 16-wide panels, in parallel when worth it.
      let packChunks = threads > 1 ? min(nPanels, 4 * threads) : 1
      let (jcC, pcC) = (jc, pc)
      Parallel.forEach(packChunks, threads: threads) { chunk in
        let p0 = nPanels * chunk / packChunks, p1 = nPanels * (chunk + 1) / packChunks
        for panel in p0..<p1 {
          let j0 = panel * gemmNR
          packPanelB(bSend.value, ldb: ldb, transB: transB, row0: pcC, col0: jcC + j0,
                     kb: kb, cols: min(gemmNR, nb - j0), into: pbSend.value + panel * gemmNR * kb)
        }
      }
      // Split the rows into blocks of whole 6-row tiles, at most mc rows each, the tiles spread
      // evenly; with several threads, a multiple of the thread count and at least 3 per thread,
      // so the threads get equal work and a busy core only slows its share.
      let tiles = (m + gemmMR - 1) / gemmMR, tilesPerBlock = gemmMC / gemmMR
      let mBlocks = threads > 1
        ? min(tiles, threads * max(3, (tiles + threads * tilesPerBlock - 1) / (threads * tilesPerBlock)))
        : (tiles + tilesPerBlock - 1) / tilesPerBlock
      // With few row blocks and many columns, also split the column panels between tasks.
      let nSplits = threads > 1 && mBlocks < 2 * threads ? min(nPanels, (2 * threads + mBlocks - 1) / mBlocks) : 1
      Parallel.forEach(mBlocks * nSplits, threads: threads) { task in
        let block = task / nSplits, split = task % nSplits
        let i0 = tiles * block / mBlocks * gemmMR, i1 = min(m, tiles * (block + 1) / mBlocks * gemmMR)
        let q0 = nPanels * split / nSplits, q1 = nPanels * (split + 1) / nSplits
        let mb = i1 - i0
        let c = cSend.value + i0 * ldc + jcC
        if a.rowStride == 1 && a.kStride >= gemmPackTransposedA && q1 - q0 >= gemmPackTransposedAPanels {
          // Aᵀ with long rows: read in place, one 6-row tile touches kb pages (more than the L1
          // TLB holds), so the block is copied into contiguous tiles first.
          let packedA = Storage(count: (mb + gemmMR - 1) / gemmMR * gemmMR * kb, zeroed: false)
          withExtendedLifetime(packedA) {
            packTransposedA(a.at(i0, pcC), lda: a.kStride, mb: mb, kb: kb, into: packedA.base)
            macroKernel(a: packedA.base, rowStride: 1, kStride: gemmMR, tileStride: gemmMR * kb, mb: mb,
                        packedB: pbSend.value, panelStride: gemmNR * kb, kb: kb, nb: nb, panels: q0..<q1,
                        c: c, ldc: ldc, add: add)
          }
        } else {
          macroKernel(a: a.at(i0, pcC), rowStride: a.rowStride, kStride: a.kStride, mb: mb, packedB: pbSend.value,
                      panelStride: gemmNR * kb, kb: kb, nb: nb, panels: q0..<q1, c: c, ldc: ldc, add: add)
        }
      }
      pc += kb
    }
    jc += nb
  }
}

/// Few rows, several threads: each task owns a run of column panels, packs them itself just
/// before use (they are in its own cache, not another core's) and runs every row block over
/// them, for all k blocks. One barrier in all (`sgemmByRows` has two per block). The sums are
/// taken in the same order as in `sgemmByRows`, so results do not depend on the path.
func sgemmByColumns(transB: Bool, m: Int, n: Int, k: Int, a: StridedA, b: UnsafePointer<Float>, ldb: Int,
                    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, threads: Int) {
  let nPanels = (n + gemmNR - 1) / gemmNR
  let chunks = min(nPanels, 4 * threads)
  let (bSend, cSend) = (UncheckedSendable(b), UncheckedSendable(c))
  Parallel.forEach(chunks, threads: threads) { chunk in
    let p0 = nPanels * chunk / chunks, p1 = nPanels * (chunk + 1) / chunks
    let (j0, width) = (p0 * gemmNR, min(n, p1 * gemmNR) - p0 * gemmNR)
    let kc = kBlock(k)
    let packed = Storage(count: (p1 - p0) * gemmNR * kc, zeroed: false)
    withExtendedLifetime(packed) {
      var pc = 0
      while pc < k {
        let kb = min(kc, k - pc)
        for panel in 0..<(p1 - p0) {
          packPanelB(bSend.value, ldb: ldb, transB: transB, row0: pc, col0: j0 + panel * gemmNR, kb: kb,
                     cols: min(gemmNR, width - panel * gemmNR), into: packed.base + panel * gemmNR * kb)
        }
        var i0 = 0
        while i0 < m {
          let mb = min(gemmMC, m - i0)
          macroKernel(a: a.at(i0, pc), rowStride: a.rowStride, kStride: a.kStride, mb: mb, packedB: packed.base,
                      panelStride: gemmNR * kb, kb: kb, nb: width, panels: 0..<(p1 - p0),
                      c: cSend.value + i0 * ldc + j0, ldc: ldc, add: accumulate || pc > 0)
          i0 += mb
        }
        pc += kb
      }
    }
  }
}

/// dst[r][c] = src[c][r] for an 8×8 block: rows of `src` are `ld` floats apart, of `dst` `ldd`.
///
/// Three rounds of splitting the 64 values into even and odd elements rotate the six bits of
/// the index by three, which swaps row and column; each round is 8 two-register shuffles.
@inline(__always)
func transpose8x8(_ src: UnsafePointer<Float>, ld: Int, into dst: UnsafeMutablePointer<Float>, ldd: Int) {
  @inline(__always) func row(_ i: Int) -> SIMD8<Float> { UnsafeRawPointer(src + i * ld).loadUnaligned(as: SIMD8<Float>.self) }
  @inline(__always) func split(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
    let pair = SIMD16<Float>(lowHalf: a, highHalf: b)
    return (pair.evenHalf, pair.oddHalf)
  }
  var (r0, r1, r2, r3, r4, r5, r6, r7) = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
  for _ in 0..<3 {
    let (e0, o0) = split(r0, r1), (e1, o1) = split(r2, r3), (e2, o2) = split(r4, r5), (e3, o3) = split(r6, r7)
    (r0, r1, r2, r3, r4, r5, r6, r7) = (e0, e1, e2, e3, o0, o1, o2, o3)
  }
  let out = UnsafeMutableRawPointer(dst), stride = 4 * ldd
  out.storeBytes(of: r0, as: SIMD8<Float>.self)
  out.storeBytes(of: r1, toByteOffset: stride, as: SIMD8<Float>.self)
  out.storeBytes(of: r2, toByteOffset: 2 * stride, as: SIMD8<Float>.self)
  out.storeBytes(of: r3, toByteOffset: 3 * stride, as: SIMD8<Float>.self)
  out.storeBytes(of: r4, toByteOffset: 4 * stride, as: SIMD8<Float>.self)
  out.storeBytes(of: r5, toByteOffset: 5 * stride, as: SIMD8<Float>.self)
  out.storeBytes(of: r6, toByteOffset: 6 * stride, as: SIMD8<Float>.self)
  out.storeBytes(of: r7, toByteOffset: 7 * stride, as: SIMD8<Float>.self)
}

/// Packs a `kb`×`cols` slice of op(B) (cols ≤ 16) as one zero-padded panel: [p][16].
@usableFromInline
func packPanelB(_ b: UnsafePointer<Float>, ldb: Int, transB: Bool, row0: Int, col0: Int,
                kb: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
  if transB {
    // B stored [n, k]: element (p, j) at b[(col0+j)*ldb + row0+p]. Full panels go through 8×8
    // register transposes; the rows past the last multiple of 8 and narrow panels element-wise.
    var p0 = 0
    if cols == gemmNR {
      while p0 + 8 <= kb {
        transpose8x8(b + col0 * ldb + row0 + p0, ld: ldb, into: dst + p0 * gemmNR, ldd: gemmNR)
        transpose8x8(b + (col0 + 8) * ldb + row0 + p0, ld: ldb, into: dst + p0 * gemmNR + 8, ldd: gemmNR)
        p0 += 8
      }
    }
    for j in 0..<gemmNR {
      if j < cols {
        let src = b + (col0 + j) * ldb + row0
        for p in p0..<kb { dst[p * gemmNR + j] = src[p] }
      } else {
        for p in 0..<kb { dst[p * gemmNR + j] = 0 }
      }
    }
  } else if cols == gemmNR {
    for p in 0..<kb {
      let src = UnsafeRawPointer(b + (row0 + p) * ldb + col0)
      let out = UnsafeMutableRawPointer(dst + p * gemmNR)
      out.storeBytes(of: src.loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
    }
  } else {
    for p in 0..<kb {
      let src = b + (row0 + p) * ldb + col0
      for j in 0..<gemmNR { dst[p * gemmNR + j] = j < cols ? src[j] : 0 }
    }
  }
}

/// C[mb, panels] (+)= A[mb, kb] · B[kb, panels]: A in 6-row tiles `tileStride` floats apart
/// (default: read in place, `6·rowStride`), element (r, p) of a tile at `tile[r·rowStride +
/// p·kStride]`; B as packed 16-wide panels `panelStride` floats apart of which the first `kb`
/// rows are used, the last one cut at column `nb`.
///
/// A last tile of fewer than 6 rows is read in place too (the kernel repeats its last row), and
/// edge tiles are computed into a small stack buffer whose valid part is then stored.
///
/// Never inlined: inlined with constant strides (the packed-tile call), the kernel's broadcasts
/// were rewritten into vector loads and shuffles and ran 4× slower.
@usableFromInline @inline(never)
func macroKernel(a: UnsafePointer<Float>, rowStride: Int, kStride: Int, tileStride: Int? = nil, mb: Int,
                 packedB: UnsafePointer<Float>, panelStride: Int, kb: Int, nb: Int, panels: Range<Int>,
                 c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool) {
  let tileStride = tileStride ?? gemmMR * rowStride
  withUnsafeTemporaryAllocation(of: Float.self, capacity: gemmMR * gemmNR) { scratch in
    let tile = scratch.baseAddress!
    for panel in panels {
      let j0 = panel * gemmNR
      let cols = min(gemmNR, nb - j0)
      let bp = packedB + panel * panelStride
      var i = 0
      while i < mb {
        let rows = min(gemmMR, mb - i)
        let ap = a + i / gemmMR * tileStride
        if rows == gemmMR && cols == gemmNR {
          microKernel6x16(kb: kb, a: ap, rowStride: rowStride, kStride: kStride, b: bp, c: c + i * ldc + j0,
                          ldc: ldc, add: add)
        } else {
          microKernel6x16(kb: kb, a: ap, rowStride: rowStride, kStride: kStride, rows: rows, b: bp, c: tile,
                          ldc: gemmNR, add: false)
          for r in 0..<rows {
            let dst = c + (i + r) * ldc + j0
            for j in 0..<cols { dst[j] = add ? dst[j] + tile[r * gemmNR + j] : tile[r * gemmNR + j] }
          }
        }
        i += gemmMR
      }
    }
  }
}
