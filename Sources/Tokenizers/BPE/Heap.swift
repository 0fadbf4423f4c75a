/// An element of a `Heap`: `precedes` says which of two comes out first.
protocol HeapElement {
  func precedes(_ other: Self) -> Bool
}

/// A binary heap that pops the element that precedes all others.
struct Heap<Element: HeapElement> {
  private var items: [Element] = []

  mutating func push(_ x: Element) {
    items.append(x)
    var i = items.count - 1
    while i > 0 {
      let parent = (i - 1) / 2
      guard x.precedes(items[parent]) else { break }
      items[i] = items[parent]
      i = parent
    }
    items[i] = x
  }

  mutating func pop() -> Element? {
    guard let last = items.popLast() else { return nil }
    guard !items.isEmpty else { return last }
    let top = items[0]
    var i = 0
    let n = items.count
    while true {
      var child = 2 * i + 1
      if child >= n { break }
      if child + 1 < n, items[child + 1].precedes(items[child]) { child += 1 }
      guard items[child].precedes(last) else { break }
      items[i] = items[child]
      i = child
    }
    items[i] = last
    return top
  }
}

/// `(rank, position)` packed high to low: smaller pops first.
extension UInt64: HeapElement {
  @inline(__always)
  func precedes(_ other: UInt64) -> Bool { self < other }
}
