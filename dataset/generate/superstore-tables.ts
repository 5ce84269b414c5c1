// Fixed vocabularies of the Superstore generator (dataset/generate/superstore.ts): segments, ship modes, the
// category tree, places and name parts. Names are invented; places are real US cities with their state, a postal
// code of the city and the retailer's four sales regions.
import type { Rng } from './common';

export const SEGMENTS = ['Consumer', 'Corporate', 'Home Office'] as const;

export const SHIP_MODES = [
  { name: 'Standard Class', weight: 60, minDays: 4, maxDays: 7 },
  { name: 'Second Class', weight: 19, minDays: 2, maxDays: 5 },
  { name: 'First Class', weight: 15, minDays: 1, maxDays: 3 },
  { name: 'Same Day', weight: 6, minDays: 0, maxDays: 0 },
] as const;

const TREE: Record<string, string[]> = {
  Furniture: ['Bookcases', 'Chairs', 'Furnishings', 'Tables'],
  'Office Supplies': ['Appliances', 'Art', 'Binders', 'Envelopes', 'Fasteners', 'Labels', 'Paper', 'Storage', 'Supplies'],
  Technology: ['Accessories', 'Copiers', 'Machines', 'Phones'],
};

export const SUB_CATEGORIES = Object.entries(TREE).flatMap(([category, subs]) => subs.map((name) => ({ category, name })));

export interface Place {
  country: string;
  city: string;
  state: string;
  postalCode: number;
  region: string;
}

const PLACES: [string, string, number, string][] = [
  ['New York City', 'New York', 10035, 'East'],
  ['Philadelphia', 'Pennsylvania', 19140, 'East'],
  ['Boston', 'Massachusetts', 2108, 'East'],
  ['Newark', 'Delaware', 19711, 'East'],
  ['Burlington', 'Vermont', 5401, 'East'],
  ['Columbus', 'Ohio', 43229, 'East'],
  ['Los Angeles', 'California', 90036, 'West'],
  ['San Francisco', 'California', 94122, 'West'],
  ['Seattle', 'Washington', 98105, 'West'],
  ['Portland', 'Oregon', 97206, 'West'],
  ['Denver', 'Colorado', 80219, 'West'],
  ['Phoenix', 'Arizona', 85023, 'West'],
  ['Houston', 'Texas', 77095, 'Central'],
  ['Chicago', 'Illinois', 60623, 'Central'],
  ['Dallas', 'Texas', 75217, 'Central'],
  ['Detroit', 'Michigan', 48205, 'Central'],
  ['Minneapolis', 'Minnesota', 55407, 'Central'],
  ['Columbus', 'Indiana', 47201, 'Central'],
  ['Jacksonville', 'Florida', 32216, 'South'],
  ['Atlanta', 'Georgia', 30318, 'South'],
  ['Nashville', 'Tennessee', 37211, 'South'],
  ['Louisville', 'Kentucky', 40214, 'South'],
  ['Henderson', 'Kentucky', 42420, 'South'],
  ['Richmond', 'Virginia', 23223, 'South'],
];

export const GEOGRAPHY: Place[] = PLACES.map(([city, state, postalCode, region]) => ({ country: 'United States', city, state, postalCode, region }));

/** Big cities more often: the first places weigh most. */
export function cityPick(rng: Rng): number {
  return Math.min(GEOGRAPHY.length - 1, Math.floor(GEOGRAPHY.length * rng.next() ** 1.6));
}

const GIVEN = ['Ada', 'Bram', 'Cora', 'Dario', 'Edda', 'Fenn', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Kira', 'Lars', 'Mila', 'Nico', 'Olga', 'Pavel', 'Rosa', 'Sami', 'Tilda', 'Umar', 'Vera', 'Wim', 'Yara', 'Zeno'];
const FAMILY = ['Ashby', 'Brandt', 'Castell', 'Dorn', 'Ellery', 'Falk', 'Gower', 'Hale', 'Irving', 'Jessup', 'Kemp', 'Lorne', 'Marsh', 'Noble', 'Orton', 'Pryce', 'Quill', 'Rudd', 'Stroud', 'Thorne', 'Upton', 'Vance', 'Wilde', 'Yates'];

export function customerName(rng: Rng): string {
  return `${rng.pick(GIVEN)} ${rng.pick(FAMILY)}`;
}

const BRANDS = ['Acme', 'Borealis', 'Cobalt', 'Dunmore', 'Everline', 'Fjord', 'Granite', 'Halcyon', 'Ironwood', 'Juniper', 'Kestrel', 'Lumen'];
const ADJECTIVES = ['Compact', 'Deluxe', 'Classic', 'Heavy-Duty', 'Slim', 'Premium', 'Recycled', 'Ergonomic', 'Wireless', 'Stackable'];

export function productName(rng: Rng, subCategory: string): string {
  const noun = subCategory.endsWith('s') ? subCategory.slice(0, -1) : subCategory;
  return `${rng.pick(BRANDS)} ${rng.pick(ADJECTIVES)} ${noun} ${rng.int(100, 999)}`;
}
