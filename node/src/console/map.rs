//! The shapes of the console's map (`--boundaries FILE.geojson`): a GeoJSON
//! FeatureCollection of Polygon and MultiPolygon features, each named by a
//! P-code property as OCHA's COD-AB files are, read and checked once when
//! the node starts, projected and simplified into SVG paths kept in memory
//! ([`Boundaries`]). A page only picks shapes and colours them
//! (`pages/map.rs`).
//!
//! Projection: equirectangular, longitudes scaled by the cosine of the
//! file's middle latitude (right for a country; a file across the
//! antimeridian is not drawn well), [`UNITS_PER_DEGREE`] SVG units a degree
//! of latitude, y down. Points are simplified (Douglas–Peucker) and rounded
//! to [`PRECISION`] of a unit, about 110 m: finer than a pixel of a
//! country's map, and shapes stay light enough for a page.
//!
//! The file is bounded ([`FILE_BYTES_MAX`], [`FEATURES_MAX`],
//! [`POINTS_MAX`], [`DRAWN_POINTS_MAX`]) and hostile: a P-code must look
//! like one (two capital letters, then capital letters or digits, as the
//! ledger's), and nothing else of the file reaches a page but the numbers
//! of its paths.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// Bytes of a boundaries file, at most.
pub const FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Features of a boundaries file, at most.
pub const FEATURES_MAX: usize = 20_000;
/// Positions of a boundaries file as read, at most.
pub const POINTS_MAX: usize = 4_000_000;
/// Points of every shape once simplified, at most: what a page of the whole
/// map draws.
pub const DRAWN_POINTS_MAX: usize = 1_000_000;
/// SVG units a degree of latitude.
pub const UNITS_PER_DEGREE: f64 = 100.0;
/// What a point is rounded to, and what simplification may move it by, in
/// SVG units (0.1 unit: about 110 m).
pub const PRECISION: f64 = 0.1;

/// The properties a feature's P-code is taken from, the first one present:
/// names that can only mean the feature's own code, then COD-AB's, finest
/// level first (an ADM2 feature also carries its ADM1 and ADM0 P-codes).
pub const PCODE_PROPERTIES: &[&str] = &[
    "pcode",
    "PCODE",
    "Pcode",
    "P_CODE",
    "ADM4_PCODE",
    "ADM3_PCODE",
    "ADM2_PCODE",
    "ADM1_PCODE",
    "ADM0_PCODE",
    "admin4Pcode",
    "admin3Pcode",
    "admin2Pcode",
    "admin1Pcode",
    "admin0Pcode",
];

/// The demo's boundaries: made-up shapes roughly where its places are.
const DEMO: &str = include_str!("../demo_boundaries.geojson");

/// Every shape of a boundaries file, projected, sorted by P-code.
#[derive(Debug)]
pub struct Boundaries {
    shapes: Vec<Shape>,
    /// The file says its shapes are illustrative, not real boundaries (a
    /// top-level `"illustrative": true`, as the demo's).
    illustrative: bool,
    /// P-codes whose every ring is smaller than [`PRECISION`]: not drawn.
    too_small: Vec<String>,
}

/// One place's shape: an SVG path (every polygon of the place, holes drawn
/// by the even-odd rule) and its box, in SVG units.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub pcode: String,
    pub path: String,
    pub bounds: Bounds,
    /// Points of the path.
    pub points: usize,
}

/// A place's rings, each a list of (longitude, latitude).
type Rings = Vec<Vec<(f64, f64)>>;

/// A box in SVG units (y down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub x_min: f64,
    pub y_min: f64,
    pub x_max: f64,
    pub y_max: f64,
}

impl Bounds {
    fn of_point((x, y): (f64, f64)) -> Bounds {
        Bounds {
            x_min: x,
            y_min: y,
            x_max: x,
            y_max: y,
        }
    }

    /// The box holding both.
    pub fn union(self, other: Bounds) -> Bounds {
        Bounds {
            x_min: self.x_min.min(other.x_min),
            y_min: self.y_min.min(other.y_min),
            x_max: self.x_max.max(other.x_max),
            y_max: self.y_max.max(other.y_max),
        }
    }

    /// An SVG `viewBox` showing the box with a margin around it.
    pub fn view_box(self) -> String {
        let width = self.x_max - self.x_min;
        let height = self.y_max - self.y_min;
        let margin = width.max(height).max(1.0) * 0.03;
        format!(
            "{} {} {} {}",
            Tenths(self.x_min - margin),
            Tenths(self.y_min - margin),
            Tenths(width + 2.0 * margin),
            Tenths(height + 2.0 * margin)
        )
    }
}

/// A boundaries file that cannot be drawn, and why (without the file's
/// name: [`Boundaries::read`] adds it).
#[derive(Debug, PartialEq, Eq)]
pub struct Unusable(pub String);

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unusable {}

impl Boundaries {
    /// Reads `path` (`--boundaries`), bounded, and checks every feature.
    pub fn read(path: &Path) -> anyhow::Result<Boundaries> {
        let named = || format!("--boundaries {}", path.display());
        let file =
            std::fs::File::open(path).with_context(|| format!("{}: cannot open it", named()))?;
        let size = file.metadata().map_or(0, |metadata| metadata.len());
        let mut bytes = Vec::new();
        if size <= FILE_BYTES_MAX {
            file.take(FILE_BYTES_MAX + 1)
                .read_to_end(&mut bytes)
                .with_context(|| format!("{}: cannot read it", named()))?;
        }
        if size > FILE_BYTES_MAX || bytes.len() as u64 > FILE_BYTES_MAX {
            anyhow::bail!(
                "{}: the file is larger than {} MiB; give one level of boundaries, simplified (e.g. mapshaper FILE -simplify 10% -o simpler.geojson)",
                named(),
                FILE_BYTES_MAX / (1024 * 1024)
            );
        }
        Boundaries::parse(&bytes).map_err(|error| anyhow::anyhow!("{}: {error}", named()))
    }

    /// The demo's boundaries (`--demo` without `--boundaries`): made-up
    /// shapes, marked illustrative.
    pub fn demo() -> anyhow::Result<Boundaries> {
        Boundaries::parse(DEMO.as_bytes())
            .map_err(|error| anyhow::anyhow!("the demo's boundaries: {error}"))
    }

    /// Checks and projects a GeoJSON FeatureCollection.
    pub fn parse(bytes: &[u8]) -> Result<Boundaries, Unusable> {
        Boundaries::parse_bounded(bytes, POINTS_MAX)
    }

    /// As [`Boundaries::parse`], with at most `points_max` positions.
    fn parse_bounded(bytes: &[u8], points_max: usize) -> Result<Boundaries, Unusable> {
        POSITIONS.with(|positions| positions.set((0, points_max)));
        let collection: Collection = serde_json::from_slice(bytes).map_err(|error| {
            Unusable(format!(
                "not a GeoJSON FeatureCollection: {error} (boundaries are GeoJSON in longitude and latitude, e.g. OCHA's COD-AB *.geojson)"
            ))
        })?;
        if collection.kind.as_deref() != Some("FeatureCollection") {
            return Err(Unusable(
                "not a GeoJSON FeatureCollection: its top-level \"type\" is not \"FeatureCollection\"".to_owned(),
            ));
        }
        let features = collection.features.unwrap_or_default();
        if features.len() > FEATURES_MAX {
            return Err(Unusable(format!(
                "{} features, at most {FEATURES_MAX}: give one administrative level only",
                features.len()
            )));
        }
        if features.is_empty() {
            return Err(Unusable(
                "no feature: give administrative boundaries (Polygon or MultiPolygon features with a P-code property)".to_owned(),
            ));
        }
        let mut places: BTreeMap<String, Rings> = BTreeMap::new();
        let mut area: Option<Bounds> = None;
        for (index, feature) in features.into_iter().enumerate() {
            let (pcode, rings) = feature.checked(index)?;
            for position in rings.iter().flatten() {
                let point = Bounds::of_point(*position);
                area = Some(area.map_or(point, |area| area.union(point)));
            }
            // A place in several features (pieces of it): one shape.
            places.entry(pcode).or_default().extend(rings);
        }
        let Some(area) = area else {
            return Err(Unusable("no position in any feature".to_owned()));
        };
        let projection = Projection::of(area);
        let mut shapes = Vec::with_capacity(places.len());
        let mut too_small = Vec::new();
        let mut drawn = 0;
        for (pcode, rings) in places {
            match projection.shape(pcode, &rings) {
                Ok(shape) => {
                    drawn += shape.points;
                    shapes.push(shape);
                }
                Err(pcode) => too_small.push(pcode),
            }
        }
        if drawn > DRAWN_POINTS_MAX {
            return Err(Unusable(format!(
                "the shapes still have {drawn} points once simplified to about 110 m, more than the {DRAWN_POINTS_MAX} a page can draw: give one administrative level only, or simplify the file (e.g. mapshaper FILE -simplify 10% -o simpler.geojson)"
            )));
        }
        Ok(Boundaries {
            shapes,
            illustrative: collection.illustrative == Some(serde_json::Value::Bool(true)),
            too_small,
        })
    }

    /// Every shape, sorted by P-code.
    pub fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    /// The shapes of `pcode` and of every place under it (P-codes starting
    /// with it: OCHA's are hierarchical), sorted by P-code; every shape for
    /// an empty P-code.
    pub fn under(&self, pcode: &str) -> &[Shape] {
        let start = self
            .shapes
            .partition_point(|shape| shape.pcode.as_str() < pcode);
        let end =
            start + self.shapes[start..].partition_point(|shape| shape.pcode.starts_with(pcode));
        &self.shapes[start..end]
    }

    /// The shape of exactly `pcode`.
    pub fn shape(&self, pcode: &str) -> Option<&Shape> {
        self.shapes
            .binary_search_by(|shape| shape.pcode.as_str().cmp(pcode))
            .ok()
            .map(|at| &self.shapes[at])
    }

    pub fn illustrative(&self) -> bool {
        self.illustrative
    }

    /// P-codes whose shape is too small to draw.
    pub fn too_small(&self) -> &[String] {
        &self.too_small
    }

    /// Points drawn for every shape.
    pub fn points(&self) -> usize {
        self.shapes.iter().map(|shape| shape.points).sum()
    }
}

/// The boundaries the console draws: `--boundaries FILE`, else the demo's
/// for a `--demo` node, else none. A file that cannot be drawn is an error
/// that names it and says what is wrong.
pub async fn load(file: Option<PathBuf>, demo: bool) -> anyhow::Result<Option<Arc<Boundaries>>> {
    let boundaries = match file {
        Some(path) => tokio::task::spawn_blocking(move || Boundaries::read(&path)).await??,
        None if demo => Boundaries::demo()?,
        None => return Ok(None),
    };
    tracing::info!(
        shapes = boundaries.shapes.len(),
        points = boundaries.points(),
        illustrative = boundaries.illustrative,
        "boundaries for the console's map"
    );
    if !boundaries.too_small.is_empty() {
        tracing::warn!(
            pcodes = ?boundaries.too_small,
            "shapes smaller than about 110 m are not drawn"
        );
    }
    Ok(Some(Arc::new(boundaries)))
}

/// Longitude and latitude to SVG units.
struct Projection {
    lon_min: f64,
    lat_max: f64,
    /// Units a degree of longitude.
    x_scale: f64,
}

impl Projection {
    fn of(area: Bounds) -> Projection {
        // Bounds of (longitude, latitude): x is longitude, y latitude.
        let middle = (area.y_min + area.y_max) / 2.0;
        Projection {
            lon_min: area.x_min,
            lat_max: area.y_max,
            x_scale: UNITS_PER_DEGREE * middle.to_radians().cos().max(0.01),
        }
    }

    fn point(&self, (lon, lat): (f64, f64)) -> (f64, f64) {
        (
            (lon - self.lon_min) * self.x_scale,
            (self.lat_max - lat) * UNITS_PER_DEGREE,
        )
    }

    /// The place's rings projected, simplified and rounded, as one path;
    /// its P-code back when every ring is too small to draw.
    fn shape(&self, pcode: String, rings: &[Vec<(f64, f64)>]) -> Result<Shape, String> {
        let mut path = String::new();
        let mut bounds: Option<Bounds> = None;
        let mut points = 0;
        for ring in rings {
            let projected: Vec<(f64, f64)> = ring.iter().map(|p| self.point(*p)).collect();
            let ring = rounded(&simplify(&projected, PRECISION));
            if ring.len() < 3 {
                continue;
            }
            for (index, point) in ring.iter().enumerate() {
                let _ = write!(
                    path,
                    "{}{} {}",
                    if index == 0 { 'M' } else { 'L' },
                    Tenths(point.0),
                    Tenths(point.1)
                );
                let point = Bounds::of_point(*point);
                bounds = Some(bounds.map_or(point, |bounds| bounds.union(point)));
            }
            path.push('Z');
            points += ring.len();
        }
        match bounds {
            Some(bounds) => Ok(Shape {
                pcode,
                path,
                bounds,
                points,
            }),
            None => Err(pcode),
        }
    }
}

/// Points rounded to [`PRECISION`], without repeats (nor the ring's
/// closing point: a path's `Z` closes it).
fn rounded(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let round = |v: f64| (v / PRECISION).round() * PRECISION;
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(points.len());
    for &(x, y) in points {
        let point = (round(x), round(y));
        if out.last() != Some(&point) {
            out.push(point);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    out
}

/// Douglas–Peucker: the points of `line` that keep it within `tolerance`
/// of where it was (a closed ring too: its ends are the same point).
fn simplify(line: &[(f64, f64)], tolerance: f64) -> Vec<(f64, f64)> {
    if line.len() < 3 {
        return line.to_vec();
    }
    let last = line.len() - 1;
    let mut keep = vec![false; line.len()];
    keep[0] = true;
    keep[last] = true;
    // A stack, not recursion: a ring may have a hundred thousand points.
    let mut spans = vec![(0, last)];
    while let Some((start, end)) = spans.pop() {
        let mut farthest = (0.0, start);
        for (index, point) in line.iter().enumerate().take(end).skip(start + 1) {
            let distance = distance_to_segment(*point, line[start], line[end]);
            if distance > farthest.0 {
                farthest = (distance, index);
            }
        }
        if farthest.0 > tolerance {
            keep[farthest.1] = true;
            spans.push((start, farthest.1));
            spans.push((farthest.1, end));
        }
    }
    line.iter()
        .zip(keep)
        .filter_map(|(point, kept)| kept.then_some(*point))
        .collect()
}

fn distance_to_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length = dx * dx + dy * dy;
    let t = if length == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / length).clamp(0.0, 1.0)
    };
    let (x, y) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - x).powi(2) + (p.1 - y).powi(2)).sqrt()
}

/// A number of SVG units, to a tenth, as short as it writes ("12", "3.5").
struct Tenths(f64);

impl fmt::Display for Tenths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 * 10.0).round() as i64;
        if tenths < 0 {
            f.write_char('-')?;
        }
        let tenths = tenths.unsigned_abs();
        write!(f, "{}", tenths / 10)?;
        if !tenths.is_multiple_of(10) {
            write!(f, ".{}", tenths % 10)?;
        }
        Ok(())
    }
}

/// OCHA-style P-code, as the ledger checks it: two capital letters (the
/// country), then up to 18 capital letters or digits.
fn is_pcode(value: &str) -> bool {
    let bytes = value.as_bytes();
    (2..=20).contains(&bytes.len())
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

// ---- The file as read: only what the map uses, every position counted.

#[derive(Deserialize)]
struct Collection {
    #[serde(rename = "type")]
    kind: Option<String>,
    features: Option<Vec<Feature>>,
    illustrative: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Feature {
    #[serde(rename = "type")]
    kind: Option<String>,
    geometry: Option<Geometry>,
    properties: Option<PcodeProperties>,
}

#[derive(Deserialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: Option<String>,
    coordinates: Option<Nested>,
}

impl Feature {
    /// Its P-code and rings (longitude, latitude), or what is wrong with it.
    fn checked(self, index: usize) -> Result<(String, Rings), Unusable> {
        let which = format!("feature {} (.features[{index}])", index + 1);
        if self.kind.as_deref() != Some("Feature") {
            return Err(Unusable(format!(
                "{which} is not a GeoJSON Feature (its \"type\" is not \"Feature\")"
            )));
        }
        let properties = self.properties.map(|p| p.0).unwrap_or_default();
        let Some((name, value)) = PCODE_PROPERTIES
            .iter()
            .find_map(|name| properties.iter().find(|(found, _)| found == name))
        else {
            return Err(Unusable(format!(
                "{which} has no P-code property (looked for {})",
                PCODE_PROPERTIES.join(", ")
            )));
        };
        let pcode = match value {
            serde_json::Value::String(text) if is_pcode(text.trim()) => text.trim().to_owned(),
            serde_json::Value::String(text) => {
                let shown: String = text.chars().take(40).collect();
                return Err(Unusable(format!(
                    "{which}: {name} {shown:?} is not a P-code (two capital letters of the country, then capital letters or digits, at most 20, e.g. \"LY021104\")"
                )));
            }
            _ => {
                return Err(Unusable(format!(
                    "{which}: {name} is not a string (a P-code such as \"LY021104\")"
                )))
            }
        };
        let which = format!("{which}, P-code {pcode}");
        let Some(geometry) = self.geometry else {
            return Err(Unusable(format!("{which} has no geometry")));
        };
        let kind = geometry.kind.unwrap_or_default();
        let polygons = match (kind.as_str(), geometry.coordinates) {
            ("Polygon", Some(Nested::List(rings))) => vec![rings],
            ("MultiPolygon", Some(Nested::List(polygons))) => polygons
                .into_iter()
                .map(|polygon| match polygon {
                    Nested::List(rings) => Ok(rings),
                    _ => Err(Unusable(format!(
                        "{which}: a MultiPolygon's coordinates are polygons (lists of rings)"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            ("Polygon" | "MultiPolygon", _) => {
                return Err(Unusable(format!(
                    "{which}: its {kind}'s coordinates are not a list"
                )))
            }
            (other, _) => {
                let shown: String = other.chars().take(40).collect();
                return Err(Unusable(format!(
                    "{which}: its geometry is {shown:?}; only Polygon and MultiPolygon are drawn (administrative boundaries)"
                )));
            }
        };
        let mut rings = Vec::new();
        for ring in polygons.into_iter().flatten() {
            let Nested::List(positions) = ring else {
                return Err(Unusable(format!(
                    "{which}: a ring is not a list of positions"
                )));
            };
            let mut points = Vec::with_capacity(positions.len());
            for position in positions {
                let Nested::Position(lon, lat) = position else {
                    return Err(Unusable(format!(
                        "{which}: a ring holds something else than positions [longitude, latitude]"
                    )));
                };
                if !(lon.is_finite()
                    && lat.is_finite()
                    && (-180.0..=180.0).contains(&lon)
                    && (-90.0..=90.0).contains(&lat))
                {
                    return Err(Unusable(format!(
                        "{which}: position [{lon}, {lat}] is not a longitude and latitude in degrees; export the file in WGS 84 (EPSG:4326), as GeoJSON is"
                    )));
                }
                points.push((lon, lat));
            }
            if points.len() < 4 {
                return Err(Unusable(format!(
                    "{which}: a ring has {} positions; a closed ring has at least 4",
                    points.len()
                )));
            }
            rings.push(points);
        }
        if rings.is_empty() {
            return Err(Unusable(format!("{which}: its {kind} has no ring")));
        }
        Ok((pcode, rings))
    }
}

/// A feature's properties: only those that may hold its P-code are kept.
#[derive(Default)]
struct PcodeProperties(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for PcodeProperties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Properties;
        impl<'de> Visitor<'de> for Properties {
            type Value = PcodeProperties;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of properties")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PcodeProperties, A::Error> {
                let mut kept = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if PCODE_PROPERTIES.contains(&key.as_str()) {
                        kept.push((key, map.next_value::<serde_json::Value>()?));
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(PcodeProperties(kept))
            }
        }
        deserializer.deserialize_map(Properties)
    }
}

thread_local! {
    /// Positions read so far by this thread's [`Boundaries::parse`], and
    /// how many it may read: the bound holds while the file is read, not
    /// only after.
    static POSITIONS: Cell<(usize, usize)> = const { Cell::new((0, POINTS_MAX)) };
}

/// Coordinates of any depth: a position is a list of numbers (longitude,
/// latitude, perhaps an altitude, ignored).
enum Nested {
    Number(f64),
    Position(f64, f64),
    List(Vec<Nested>),
}

impl<'de> Deserialize<'de> for Nested {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Coordinates;
        impl<'de> Visitor<'de> for Coordinates {
            type Value = Nested;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("coordinates: numbers in nested lists")
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Nested, E> {
                Ok(Nested::Number(value))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Nested, E> {
                Ok(Nested::Number(value as f64))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Nested, E> {
                Ok(Nested::Number(value as f64))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Nested, A::Error> {
                let mut lists = Vec::new();
                let mut numbers = [0.0; 2];
                let mut count = 0;
                while let Some(item) = seq.next_element::<Nested>()? {
                    match item {
                        Nested::Number(value) if lists.is_empty() => {
                            if let Some(slot) = numbers.get_mut(count) {
                                *slot = value;
                            }
                            count += 1;
                        }
                        Nested::Position(..) | Nested::List(_) if count == 0 => lists.push(item),
                        _ => return Err(de::Error::custom(
                            "a list mixes numbers and lists: a position is [longitude, latitude]",
                        )),
                    }
                }
                if count == 0 {
                    return Ok(Nested::List(lists));
                }
                if count < 2 {
                    return Err(de::Error::custom(
                        "a position has one number: a position is [longitude, latitude]",
                    ));
                }
                let (read, max) = POSITIONS.with(|positions| {
                    let (read, max) = positions.get();
                    positions.set((read + 1, max));
                    (read + 1, max)
                });
                if read > max {
                    return Err(de::Error::custom(format!(
                        "more than {max} positions: give one administrative level only, or simplify the file (e.g. mapshaper FILE -simplify 10% -o simpler.geojson)"
                    )));
                }
                Ok(Nested::Position(numbers[0], numbers[1]))
            }
        }
        deserializer.deserialize_any(Coordinates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(pcode_property: &str, pcode: &str, lon: f64, lat: f64, size: f64) -> String {
        format!(
            r#"{{"type":"Feature","properties":{{"{pcode_property}":"{pcode}","ADM0_EN":"Libya","ADM2_EN":"<b>x</b>"}},
               "geometry":{{"type":"Polygon","coordinates":[[[{lon},{lat}],[{x},{lat}],[{x},{y}],[{lon},{y}],[{lon},{lat}]]]}}}}"#,
            x = lon + size,
            y = lat + size
        )
    }

    fn collection(features: &[String]) -> String {
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        )
    }

    fn error(text: &str) -> String {
        Boundaries::parse(text.as_bytes()).expect_err(text).0
    }

    #[test]
    fn polygons_and_multipolygons_become_paths_sorted_by_pcode() {
        let multi = r#"{"type":"Feature","properties":{"ADM2_PCODE":"LY0301","ADM1_PCODE":"LY03"},
            "geometry":{"type":"MultiPolygon","coordinates":[
              [[[10,31],[11,31],[11,32],[10,32],[10,31]],[[10.2,31.2],[10.4,31.2],[10.4,31.4],[10.2,31.2]]],
              [[[12,31],[12.5,31],[12.5,31.5,120],[12,31]]]]}}"#;
        let text = collection(&[
            square("ADM2_PCODE", "LY0305", 9.0, 30.0, 1.0),
            multi.to_owned(),
        ]);
        let boundaries = Boundaries::parse(text.as_bytes()).expect("valid");
        let pcodes: Vec<&str> = boundaries
            .shapes()
            .iter()
            .map(|s| s.pcode.as_str())
            .collect();
        // ADM2 before ADM1 and ADM0: the feature's own P-code.
        assert_eq!(pcodes, ["LY0301", "LY0305"]);
        let nalut = boundaries.shape("LY0301").expect("LY0301");
        // Three rings (one a hole), an altitude ignored.
        assert_eq!(nalut.path.matches('M').count(), 3, "{}", nalut.path);
        assert_eq!(nalut.path.matches('Z').count(), 3);
        assert!(!boundaries.illustrative());
        assert_eq!(boundaries.under("LY03").len(), 2);
        assert_eq!(boundaries.under("LY0305").len(), 1);
        assert_eq!(boundaries.under("").len(), 2);
        assert!(boundaries.under("SY").is_empty());
        assert!(boundaries.under("LY030").len() == 2 && boundaries.under("LY04").is_empty());
        assert!(boundaries.shape("LY03").is_none());
    }

    #[test]
    fn the_projection_keeps_north_up_and_scales_longitude() {
        // Two 1° squares side by side at 60°N: a degree of longitude is
        // half a degree of latitude there.
        let text = collection(&[
            square("pcode", "NO01", 10.0, 59.5, 1.0),
            square("pcode", "NO02", 11.0, 59.5, 1.0),
        ]);
        let boundaries = Boundaries::parse(text.as_bytes()).expect("valid");
        let west = boundaries.shape("NO01").expect("NO01").bounds;
        let east = boundaries.shape("NO02").expect("NO02").bounds;
        let width = west.x_max - west.x_min;
        let height = west.y_max - west.y_min;
        assert!((height - UNITS_PER_DEGREE).abs() < 0.11, "{west:?}");
        assert!((width - UNITS_PER_DEGREE * 0.5).abs() < 0.2, "{west:?}");
        assert!((west.x_min).abs() < 1e-9 && west.y_min.abs() < 1e-9);
        assert!((east.x_min - west.x_max).abs() < 0.11, "{east:?}");
        assert_eq!(
            boundaries.shape("NO01").expect("NO01").path,
            "M0 100L50 100L50 0L0 0Z"
        );
        assert_eq!(
            west.union(east).view_box(),
            "-3 -3 106 106",
            "a margin of 3%"
        );
    }

    #[test]
    fn simplification_drops_what_cannot_be_seen() {
        // A ring with a thousand points along its edges: four corners stay.
        let mut ring = Vec::new();
        for i in 0..250 {
            ring.push(format!("[{},0]", f64::from(i) / 250.0));
        }
        for i in 0..250 {
            ring.push(format!("[1,{}]", f64::from(i) / 250.0));
        }
        for i in 0..250 {
            ring.push(format!("[{},1]", 1.0 - f64::from(i) / 250.0));
        }
        for i in 0..250 {
            ring.push(format!("[0,{}]", 1.0 - f64::from(i) / 250.0));
        }
        ring.push("[0,0]".into());
        let feature = format!(
            r#"{{"type":"Feature","properties":{{"pcode":"XX01"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}"#,
            ring.join(",")
        );
        let boundaries = Boundaries::parse(collection(&[feature]).as_bytes()).expect("valid");
        let shape = boundaries.shape("XX01").expect("XX01");
        assert_eq!(shape.points, 4, "{}", shape.path);
        // A place smaller than the precision is not drawn, and said so.
        let text = collection(&[
            square("pcode", "XX01", 0.0, 0.0, 1.0),
            square("pcode", "XX02", 0.5, 0.5, 0.0001),
        ]);
        let boundaries = Boundaries::parse(text.as_bytes()).expect("valid");
        assert!(boundaries.shape("XX02").is_none());
        assert_eq!(boundaries.too_small(), ["XX02"]);
    }

    #[test]
    fn pieces_of_one_place_are_one_shape() {
        let text = collection(&[
            square("pcode", "LY0301", 10.0, 31.0, 0.5),
            square("pcode", "LY0301", 11.0, 31.0, 0.5),
        ]);
        let boundaries = Boundaries::parse(text.as_bytes()).expect("valid");
        assert_eq!(boundaries.shapes().len(), 1);
        assert_eq!(boundaries.shapes()[0].path.matches('M').count(), 2);
    }

    #[test]
    fn what_is_wrong_is_said_so_that_it_can_be_fixed() {
        let no_pcode = collection(&[
            square("pcode", "LY01", 0.0, 0.0, 1.0),
            square("name", "Nalut", 0.0, 0.0, 1.0),
        ]);
        let message = error(&no_pcode);
        assert!(
            message.starts_with(
                "feature 2 (.features[1]) has no P-code property (looked for pcode, PCODE"
            ) && message.contains("ADM2_PCODE"),
            "{message}"
        );
        let message = error(&collection(&[square(
            "ADM2_PCODE",
            "<b>ly01",
            0.0,
            0.0,
            1.0,
        )]));
        assert!(
            message.contains("ADM2_PCODE \"<b>ly01\" is not a P-code"),
            "{message}"
        );
        let message = error(&collection(&[square("pcode", "LY01", 500000.0, 0.0, 1.0)]));
        assert!(message.contains("EPSG:4326"), "{message}");
        let point = r#"{"type":"Feature","properties":{"pcode":"LY01"},"geometry":{"type":"Point","coordinates":[1,2]}}"#;
        let message = error(&collection(&[point.to_owned()]));
        assert!(
            message
                .contains("P-code LY01: its geometry is \"Point\"; only Polygon and MultiPolygon"),
            "{message}"
        );
        let no_geometry = r#"{"type":"Feature","properties":{"pcode":"LY01"},"geometry":null}"#;
        assert!(error(&collection(&[no_geometry.to_owned()])).contains("has no geometry"));
        let open = r#"{"type":"Feature","properties":{"pcode":"LY01"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}}"#;
        assert!(error(&collection(&[open.to_owned()])).contains("at least 4"));
        let mixed = r#"{"type":"Feature","properties":{"pcode":"LY01"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,[0,0]]]]}}"#;
        assert!(error(&collection(&[mixed.to_owned()])).contains("mixes numbers and lists"));
        let number = r#"{"type":"Feature","properties":{"pcode":7},"geometry":null}"#;
        assert!(error(&collection(&[number.to_owned()])).contains("pcode is not a string"));
        assert!(error(r#"{"type":"Feature"}"#).contains("\"FeatureCollection\""));
        assert!(error("[1,2").starts_with("not a GeoJSON FeatureCollection"));
        assert!(error(&collection(&[])).starts_with("no feature"));
    }

    #[test]
    fn a_file_is_bounded() {
        let many = vec![square("pcode", "LY01", 0.0, 0.0, 1.0); FEATURES_MAX + 1];
        assert!(error(&collection(&many)).contains("at most 20000"));
        // Positions are counted as they are read: 15 here.
        let three = collection(&vec![square("pcode", "LY01", 0.0, 0.0, 1.0); 3]);
        assert!(Boundaries::parse_bounded(three.as_bytes(), 15).is_ok());
        let message = Boundaries::parse_bounded(three.as_bytes(), 12)
            .expect_err("15 positions, 12 allowed")
            .0;
        assert!(message.contains("more than 12 positions"), "{message}");
        // The count starts again for the next file.
        assert!(Boundaries::parse(three.as_bytes()).is_ok());

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("too-big.geojson");
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(FILE_BYTES_MAX + 1).expect("grow");
        let message = Boundaries::read(&path).expect_err("too big").to_string();
        assert!(
            message.starts_with(&format!(
                "--boundaries {}: the file is larger than 64 MiB",
                path.display()
            )),
            "{message}"
        );
        let message = Boundaries::read(&dir.path().join("missing.geojson"))
            .expect_err("missing")
            .to_string();
        assert!(
            message.contains("missing.geojson: cannot open it"),
            "{message}"
        );
    }

    #[test]
    fn the_demo_has_a_shape_for_each_of_its_places_and_says_they_are_illustrative() {
        let demo = Boundaries::demo().expect("the demo's boundaries");
        assert!(demo.illustrative());
        assert!(demo.too_small().is_empty());
        let pcodes: Vec<&str> = demo.shapes().iter().map(|s| s.pcode.as_str()).collect();
        assert_eq!(
            pcodes,
            ["JO11", "JO1105", "LY03", "LY0301", "LY0305", "MA09", "MA0901", "SY09", "SY0901"]
        );
        // Each place inside its region.
        for (place, region) in [
            ("JO1105", "JO11"),
            ("LY0301", "LY03"),
            ("LY0305", "LY03"),
            ("MA0901", "MA09"),
            ("SY0901", "SY09"),
        ] {
            let (place, region) = (
                demo.shape(place).expect("place").bounds,
                demo.shape(region).expect("region").bounds,
            );
            assert_eq!(region.union(place), region, "{place:?} in {region:?}");
        }
    }

    #[test]
    fn numbers_are_written_short() {
        assert_eq!(Tenths(12.0).to_string(), "12");
        assert_eq!(Tenths(3.46).to_string(), "3.5");
        assert_eq!(Tenths(-0.5).to_string(), "-0.5");
        assert_eq!(Tenths(0.04).to_string(), "0");
    }
}
