/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): what AWS event stream messages carry
/// (SubscribeToShard's answers).
public enum CRC32 {
    static let tables = SlicingBy8.tables(polynomial: 0xEDB8_8320)

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { SlicingBy8.checksum(bytes, seed: 0, tables: tables) }
    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
}
