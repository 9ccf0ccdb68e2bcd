//! What a JPEG's marker segments say about how it is coded, read up to its first scan:
//! enough to keep the GPU to the JPEGs nvJPEG decodes (8-bit Huffman frames, baseline only
//! on the hardware backend, YCbCr-coded colour).

/// The frame header and colour coding of a JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FrameInfo {
    /// The frame marker's second byte: `0xC0` baseline, `0xC1` extended sequential,
    /// `0xC2` progressive, `0xC3` lossless, `0xC9..` arithmetic-coded, ...
    pub marker: u8,
    /// Bits per sample.
    pub precision: u8,
    /// The colour is coded as RGB rather than YCbCr (an Adobe APP14 segment with transform
    /// 0, or components named `R`, `G`, `B`): decoders disagree on such files.
    pub rgb_coded: bool,
}

impl FrameInfo {
    /// Baseline sequential (`SOF0`).
    pub(super) fn is_baseline(&self) -> bool {
        self.marker == 0xC0
    }

    /// Huffman-coded sequential or progressive (`SOF0`, `SOF1`, `SOF2`).
    pub(super) fn is_huffman_dct(&self) -> bool {
        matches!(self.marker, 0xC0..=0xC2)
    }
}

/// Walks the marker segments of a JPEG up to its first scan (an Adobe segment may follow
/// the frame header); `None` when the bytes end first, have no frame header or are not
/// marker segments (the decoder that gets the row then says what is wrong).
pub(super) fn frame_info(bytes: &[u8]) -> Option<FrameInfo> {
    let mut adobe_rgb = false;
    let mut frame: Option<FrameInfo> = None;
    let mut at = 2; // past SOI
    loop {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        match marker {
            // fill bytes before a marker
            0xFF => at += 1,
            // markers without a length
            0x01 | 0xD0..=0xD7 => at += 2,
            // the first scan: the frame header came before it, or the file is broken
            0xDA => {
                return frame.map(|f| FrameInfo {
                    rgb_coded: f.rgb_coded || adobe_rgb,
                    ..f
                });
            }
            0xD9 => return None,
            _ => {
                let len = usize::from(u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]));
                let data = bytes.get(at + 4..at + 2 + len.max(2))?;
                // frame headers (C4 DHT, C8 JPG and CC DAC share the range but are not frames)
                if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                    let precision = *data.first()?;
                    let components = usize::from(*data.get(5)?);
                    let ids: Vec<u8> = (0..components).filter_map(|c| data.get(6 + 3 * c).copied()).collect();
                    frame = Some(FrameInfo {
                        marker,
                        precision,
                        rgb_coded: ids == b"RGB",
                    });
                }
                // APP14 "Adobe": version (2), flags (2 + 2), then the colour transform
                if marker == 0xEE && data.starts_with(b"Adobe") && data.get(11) == Some(&0) {
                    adobe_rgb = true;
                }
                at += 2 + len;
            }
        }
    }
}

/// Whether a JPEG ends with its end-of-image marker. A file cut short lacks it, and
/// nvJPEG's hardware decoder makes up the missing part of such an image without an error
/// (seen on an H100), where the CPU decoder refuses it: the GPU takes only files that end.
/// (In entropy-coded data a 0xFF byte is followed by 0x00 or a restart marker, so a file
/// cut inside its scan data cannot end in `FF D9`; one with several scans cut inside a
/// segment between them could, if that segment's payload holds those two bytes. Bytes some
/// writers append after the marker send a file to the CPU too, which costs speed, not
/// correctness.)
pub(super) fn ends_with_end_marker(bytes: &[u8]) -> bool {
    bytes.ends_with(&[0xFF, 0xD9])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP0 of length 4, a frame header `sof` with three components `ids`, then
    /// the first scan's marker.
    fn jpeg(sof: u8, precision: u8, ids: [u8; 3]) -> Vec<u8> {
        let mut out = vec![
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, sof, 0x00, 17, precision,
        ];
        out.extend([0, 16, 0, 16, 3]);
        for id in ids {
            out.extend([id, 0x11, 0]);
        }
        out.extend([0xFF, 0xDA]);
        out
    }

    /// An Adobe APP14 segment with colour transform 0 (RGB).
    fn adobe_rgb() -> Vec<u8> {
        let mut out = vec![0xFF, 0xEE, 0x00, 14];
        out.extend(b"Adobe");
        out.extend([0, 100, 0, 0, 0, 0, 0]);
        out
    }

    #[test]
    fn frames_precision_and_colour_coding() {
        let baseline = frame_info(&jpeg(0xC0, 8, [1, 2, 3]));
        assert_eq!(
            baseline,
            Some(FrameInfo {
                marker: 0xC0,
                precision: 8,
                rgb_coded: false
            })
        );
        assert!(baseline.is_some_and(|f| f.is_baseline() && f.is_huffman_dct()));
        let progressive = frame_info(&jpeg(0xC2, 8, [1, 2, 3]));
        assert!(progressive.is_some_and(|f| !f.is_baseline() && f.is_huffman_dct()));
        assert!(frame_info(&jpeg(0xC9, 8, [1, 2, 3])).is_some_and(|f| !f.is_huffman_dct()));
        assert_eq!(frame_info(&jpeg(0xC1, 12, [1, 2, 3])).map(|f| f.precision), Some(12));
        assert!(frame_info(&jpeg(0xC0, 8, *b"RGB")).is_some_and(|f| f.rgb_coded));
        // a DHT before the frame is skipped, not taken for one
        let mut dht = vec![0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x02];
        dht.extend(&jpeg(0xC2, 8, [1, 2, 3])[8..]);
        assert_eq!(frame_info(&dht).map(|f| f.marker), Some(0xC2));
        // Adobe APP14 with transform 0 before the frame, or after it: RGB-coded
        let plain = jpeg(0xC0, 8, [1, 2, 3]);
        let mut before = vec![0xFF, 0xD8];
        before.extend(adobe_rgb());
        before.extend(&plain[8..]);
        assert!(frame_info(&before).is_some_and(|f| f.rgb_coded));
        let scan = plain.len() - 2;
        let mut after = plain[..scan].to_vec();
        after.extend(adobe_rgb());
        after.extend(&plain[scan..]);
        assert!(frame_info(&after).is_some_and(|f| f.rgb_coded && f.marker == 0xC0));
    }

    #[test]
    fn truncated_and_garbage_headers_are_none() {
        let full = jpeg(0xC0, 8, [1, 2, 3]);
        for cut in 0..full.len() - 1 {
            assert_eq!(frame_info(&full[..cut]), None, "cut at {cut}");
        }
        assert_eq!(frame_info(&[0xFF, 0xD8, 0x12, 0x34, 0x56]), None);
        assert_eq!(frame_info(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), None);
        // a frame header and no scan
        assert_eq!(frame_info(&full[..full.len() - 2]), None);
    }

    #[test]
    fn only_a_whole_file_ends_with_its_end_marker() {
        let whole = crate::tensor::testutil::jpeg_rgb(&crate::tensor::testutil::test_card(64, 48, 4), 90);
        assert!(ends_with_end_marker(&whole));
        for cut in 0..whole.len() {
            assert!(!ends_with_end_marker(&whole[..cut]), "cut at {cut} of {}", whole.len());
        }
        let mut appended = whole.clone();
        appended.extend([0, 0]);
        assert!(!ends_with_end_marker(&appended));
    }
}
