import Testing
import SluiceCore
@testable import SluiceDataflow

@Suite("HOTSPOTS")
struct HotspotsTests {
    /// Dense cells of side scan_radius make hotspots; a point leaving the window takes its cell's
    /// count down; a checkpoint restores the window.
    @Test func denseRegionsOfTheWindowAreHotspots() throws {
        let h = Hotspots(Hotspots.Configuration(windowSize: 4, scanRadius: 1, minimumPoints: 3), dimensions: 2)
        #expect(h.update([0.1, 0.1]).isEmpty)
        #expect(h.update([0.5, 0.5]).isEmpty)
        let one = h.update([1.2, 0.4])  // a neighbouring cell: together three points
        #expect(one.count == 1 && one[0].minValues == [0.1, 0.1] && one[0].maxValues == [1.2, 0.5], "\(one)")
        #expect(abs(one[0].density - 3 / ((1.1 + 1) * (0.4 + 1))) < 1e-12)
        // A fourth point far away, then a fifth: the first leaves the window and the hotspot goes.
        #expect(h.update([9, 9]).count == 1)
        let restored = Hotspots(h.configuration, dimensions: 2)
        try restored.restore(h.snapshot)
        #expect(restored.update([20, 20]).isEmpty)
        #expect(h.update([20, 20]).isEmpty)
        #expect(restored.window == h.window && restored.seen == h.seen)
    }

    /// Past four columns a cell is dense by its own points alone.
    @Test func manyColumnsUseTheirOwnCell() {
        let h = Hotspots(Hotspots.Configuration(windowSize: 10, scanRadius: 1, minimumPoints: 2), dimensions: 5)
        #expect(h.update([0.5, 0.5, 0.5, 0.5, 0.5]).isEmpty)
        #expect(h.update([1.5, 0.5, 0.5, 0.5, 0.5]).isEmpty)  // the next cell: not counted together
        #expect(h.update([0.6, 0.6, 0.6, 0.6, 0.6]).count == 1)
    }
}
