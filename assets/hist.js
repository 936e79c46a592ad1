// gm2dqc histogram display: draws objects of ROOT files served by `gm2dqc serve`
// with the vendored JSROOT (assets/jsroot/, see its README.md). An ES module with
// no build step; it loads JSROOT lazily from ./jsroot/modules/ next to this file.
//
//   import { drawObject, drawWithReference, drawInfill, drawCaloMap } from '/assets/hist.js';
//   await drawObject('plot1', '/files/3/merged/merged_15921-15921.root', 'tracker/driftTime', { option: 'colz' });
//
// Every draw function takes a div (element or id), cleans what was drawn there
// before, and resolves to the JSROOT painter. On any failure (file missing, object
// missing, decode failure, JSROOT not loadable) the div shows the error as text
// (class `hist-error`, the message also in `div.dataset.error`), the message is
// logged with console.error, and the promise resolves to null: nothing is thrown
// to the caller, and nothing fails silently.
//
// Drawing is SVG, zoomable as JSROOT does by default (drag a rectangle or an axis,
// mouse wheel, double click to unzoom). 3D draw options (LEGO, SURF) are not
// available: the 3D library (three.js, 2 MB) is not vendored; the histogram
// painters used are JSROOT's 2D-only ones (modules/hist2d/).

const JSROOT = new URL('./jsroot/modules/', import.meta.url).href;

// Detector layout (src/layout.rs): 24 calorimeters of 54 crystals, 9 columns x 6 rows;
// crystal = 9 * row + column, row 0 at the top; channel = (calo - 1) * 54 + crystal.
export const N_CALOS = 24, XTALS_PER_CALO = 54, XTAL_COLS = 9, XTAL_ROWS = 6;
export const N_XTALS = N_CALOS * XTALS_PER_CALO;
// The map of all calorimeters, as in the report's calorimeter maps: 4 rows of 6,
// calos 1-6 in the top row; so 6 * 9 = 54 bins in x and 4 * 6 = 24 bins in y.
const MAP_CALO_COLS = 6, MAP_CALO_ROWS = 4;
const MAP_NX = MAP_CALO_COLS * XTAL_COLS, MAP_NY = MAP_CALO_ROWS * XTAL_ROWS;

let jsrootPromise = null;

/** The JSROOT modules used here: { core, io, draw, cleanup }. Loaded once. */
export function loadJsroot() {
   if (!jsrootPromise) {
      jsrootPromise = Promise.all([
         import(JSROOT + 'core.mjs'),
         import(JSROOT + 'io.mjs'),
         import(JSROOT + 'draw.mjs')
      ]).then(([core, io, draw]) => {
         // draw.mjs maps TH1/TProfile/TH2 to modules/hist/*Painter.mjs, which
         // import the 3D code and three.js; point them at the 2D painters.
         const th1 = () => import(JSROOT + 'hist2d/TH1Painter.mjs').then(m => m.TH1Painter),
               th2 = () => import(JSROOT + 'hist2d/TH2Painter.mjs').then(m => m.TH2Painter);
         for (const [kind, cls] of [['ROOT.TH1D', th1], ['ROOT.TProfile', th1], ['ROOT.TH2D', th2]]) {
            const h = draw.getDrawHandle(kind);
            if (h)
               h.class = cls;
         }
         return { core, io, draw, cleanup: draw.cleanup };
      });
      jsrootPromise.catch(() => { jsrootPromise = null; }); // let a later call retry
   }
   return jsrootPromise;
}

const files = new Map(); // url -> Promise<TFile>

/** Opens (once per URL) a ROOT file over HTTP with range requests. */
export async function openRootFile(url) {
   if (!files.has(url)) {
      const { io } = await loadJsroot();
      const p = io.openFile(url).then(f => {
         if (!f)
            throw new Error(`cannot open ${url}`);
         return f;
      });
      p.catch(() => files.delete(url));
      files.set(url, p);
   }
   return files.get(url);
}

/** Reads object `objPath` ("dir/sub/name") of the file at `url`. */
export async function readObject(url, objPath) {
   let file;
   try {
      file = await openRootFile(url);
   } catch (e) {
      // JSROOT's message for a missing file is "Fail to read with 1 ranges": say what HTTP said.
      const status = await fetch(url, { method: 'HEAD' }).then(r => r.ok ? '' : `HTTP ${r.status} ${r.statusText}`, () => '');
      throw new Error(`cannot open ${url}: ${status || message(e)}`);
   }
   let obj;
   try {
      obj = await file.readObject(objPath);
   } catch (e) {
      throw new Error(`cannot read ${objPath} from ${url}: ${message(e)}`);
   }
   if (!obj)
      throw new Error(`no object ${objPath} in ${url}`);
   return obj;
}

function message(e) {
   return e?.message ?? String(e);
}

function element(div) {
   const el = typeof div === 'string' ? document.getElementById(div) : div;
   if (!el)
      throw new Error(`no element ${div}`);
   return el;
}

function showError(el, what, e) {
   const text = `${what}: ${message(e)}`;
   console.error(`hist.js: ${text}`);
   el.textContent = text;
   el.classList.add('hist-error');
   el.dataset.error = text;
   return null;
}

async function prepare(el) {
   const jsr = await loadJsroot();
   jsr.cleanup(el);
   el.textContent = '';
   el.classList.remove('hist-error');
   delete el.dataset.error;
   return jsr;
}

// Runs `body(el, jsroot)`, turning any failure into a message in the div.
async function guarded(div, what, body) {
   let el;
   try {
      el = element(div);
   } catch (e) {
      console.error(`hist.js: ${what}: ${message(e)}`);
      return null;
   }
   try {
      const jsr = await prepare(el);
      return await body(el, jsr);
   } catch (e) {
      return showError(el, what, e);
   }
}

function isHist(obj, dim) {
   const t = obj?._typename ?? '';
   return dim === 1 ? (t.startsWith('TH1') || t === 'TProfile') : t.startsWith('TH2');
}

function need(cond, text) {
   if (!cond)
      throw new Error(text);
}

/** Sum of the in-range bin contents of a TH1 (no under/overflow). */
function integral(h) {
   let s = 0;
   for (let i = 1; i <= h.fXaxis.fNbins; ++i)
      s += h.fArray[i];
   return s;
}

function legend(core, entries, [x1, y1, x2, y2] = [0.55, 0.75, 0.88, 0.88]) {
   const leg = core.create(core.clTLegend);
   Object.assign(leg, { fX1NDC: x1, fY1NDC: y1, fX2NDC: x2, fY2NDC: y2, fFillStyle: 1001, fBorderSize: 1 });
   for (const [obj, label, option] of entries) {
      const e = core.create(core.clTLegendEntry);
      Object.assign(e, { fObject: obj, fLabel: label, fOption: option ?? 'l' });
      leg.fPrimitives.Add(e);
   }
   return leg;
}

/**
 * Draws object `objPath` of the ROOT file at `fileUrl` into `div`.
 * options: { option: JSROOT draw option (e.g. 'hist', 'E1', 'colz'), title: replaces the object's title }.
 * Resolves to the painter, or null (error shown in the div).
 */
export function drawObject(div, fileUrl, objPath, { option = '', title } = {}) {
   return guarded(div, `${objPath}`, async (el, { draw }) => {
      const obj = await readObject(fileUrl, objPath);
      if (title !== undefined)
         obj.fTitle = title;
      if (!option && isHist(obj, 2))
         option = 'colz';
      const painter = await draw.draw(el, obj, option);
      need(painter, `JSROOT cannot draw ${obj._typename}`);
      return painter;
   });
}

/**
 * Draws the TH1 `objPath` of `fileUrl` and on top the reference `refPath` of `refUrl`,
 * scaled to the same integral (in-range bins), with a legend.
 * options: { option (default 'hist'), title, labels: [main label, reference label] }.
 */
export function drawWithReference(div, fileUrl, objPath, refUrl, refPath, { option = 'hist', title, labels } = {}) {
   return guarded(div, `${objPath} with reference`, async (el, { core, draw }) => {
      const [h, ref] = await Promise.all([readObject(fileUrl, objPath), readObject(refUrl, refPath)]);
      need(isHist(h, 1) && isHist(ref, 1), `not 1D histograms: ${h._typename}, ${ref._typename}`);
      if (title !== undefined)
         h.fTitle = title;
      const sh = integral(h), sr = integral(ref);
      const scale = sr !== 0 ? sh / sr : 1;
      if (ref._typename !== 'TProfile') { // a profile's bins are means: nothing to normalise
         ref.fArray = ref.fArray.map(v => v * scale);
         if (ref.fSumw2?.length)
            ref.fSumw2 = ref.fSumw2.map(v => v * scale * scale);
         ref.fEntries *= scale;
         ref.fTsumw *= scale;
         ref.fTsumw2 *= scale * scale;
      }
      ref.fLineColor = 2; // red
      ref.fLineStyle = 2;
      ref.fLineWidth = 2;
      ref.fFillStyle = 0;
      ref.fMarkerColor = 2;
      h.fLineColor = 4; // blue
      h.fLineWidth = 2;
      // Both must fit: the frame's y range comes from the first histogram.
      let max = 0;
      for (let i = 1; i <= h.fXaxis.fNbins; ++i)
         max = Math.max(max, h.fArray[i], ref.fArray[i] ?? 0);
      if (max > 0 && h.fMaximum === -1111)
         h.fMaximum = max * 1.1;
      const painter = await draw.draw(el, h, `${option};nostat`);
      need(painter, `JSROOT cannot draw ${h._typename}`);
      await draw.draw(el, ref, `${option} same`);
      const [lm, lr] = labels ?? [h.fTitle || h.fName, `reference${ref._typename !== 'TProfile' ? ` (x ${scale.toPrecision(3)})` : ''}`];
      await draw.draw(el, legend(core, [[h, lm], [ref, lr]]), '');
      return painter;
   });
}

/**
 * Draws the in-fill TProfile `objPath` and on top the fit N (1 - A exp(-t/tau)) for
 * t in [t_min, t_max] (the profile's x unit), sampled at 400 points as a TGraph
 * drawn as a line (JSROOT draws a TGraph reliably; a TF1 needs a TFormula).
 * fit: { N, A, tau, t_min, t_max }; options: { option (default 'E1'), title, npoints }.
 */
export function drawInfill(div, fileUrl, objPath, fit, { option = 'E1', title, npoints = 400 } = {}) {
   return guarded(div, `${objPath} in-fill fit`, async (el, { core, draw }) => {
      const { N, A, tau, t_min: t0, t_max: t1 } = fit ?? {};
      need([N, A, tau, t0, t1].every(Number.isFinite) && t1 > t0 && tau !== 0,
           `bad fit parameters ${JSON.stringify(fit)}`);
      const prof = await readObject(fileUrl, objPath);
      need(isHist(prof, 1), `${objPath} is a ${prof._typename}, not a profile`);
      if (title !== undefined)
         prof.fTitle = title;
      const xs = [], ys = [];
      for (let i = 0; i < npoints; ++i) {
         const t = t0 + (t1 - t0) * i / (npoints - 1);
         xs.push(t);
         ys.push(N * (1 - A * Math.exp(-t / tau)));
      }
      prof.fLineColor = 4;
      prof.fMarkerColor = 4;
      prof.fMarkerStyle = 20;
      prof.fMarkerSize = 0.5;
      // Keep the curve inside the frame.
      if (prof.fMinimum === -1111 && prof.fMaximum === -1111) {
         const vals = [...ys];
         for (let i = 1; i <= prof.fXaxis.fNbins; ++i)
            if (prof.fBinEntries?.[i] > 0)
               vals.push(prof.fArray[i] / prof.fBinEntries[i]);
         const lo = Math.min(...vals), hi = Math.max(...vals), pad = 0.1 * (hi - lo || Math.abs(hi) || 1);
         prof.fMinimum = lo - pad;
         prof.fMaximum = hi + pad;
      }
      const painter = await draw.draw(el, prof, `${option};nostat`);
      need(painter, `JSROOT cannot draw ${prof._typename}`);
      const g = core.createTGraph(npoints, xs, ys);
      Object.assign(g, { fName: 'fit', fTitle: 'fit', fLineColor: 2, fLineWidth: 2 });
      await draw.draw(el, g, 'L');
      const f = v => Number(v).toPrecision(4);
      await draw.draw(el, legend(core, [[prof, 'data', 'lep'],
         [g, `N(1 - A e^{-t/#tau}): N=${f(N)}, A=${f(A)}, #tau=${f(tau)}`, 'l']], [0.35, 0.14, 0.88, 0.28]), '');
      return painter;
   });
}

/** Crystal of a bin (1-based binx, biny) of the all-calorimeter map (54 x 24 bins). */
export function crystalOfMapBin(binx, biny) {
   const bx = binx - 1, fromTop = MAP_NY - biny;
   const ccol = Math.floor(bx / XTAL_COLS), crow = Math.floor(fromTop / XTAL_ROWS);
   const ix = bx % XTAL_COLS, iy = fromTop % XTAL_ROWS;
   const calo = crow * MAP_CALO_COLS + ccol + 1, xtal = iy * XTAL_COLS + ix;
   return { calo, xtal, ix, iy };
}

// A per-channel TH1/TProfile (N_XTALS bins, bin i+1 = channel i) as the all-calorimeter TH2.
function mapOfChannels(core, h) {
   const m = core.createHistogram('TH2D', MAP_NX, MAP_NY);
   m.fName = `${h.fName}_map`;
   m.fTitle = h.fTitle;
   Object.assign(m.fXaxis, { fXmin: 0, fXmax: MAP_NX, fTitle: 'crystal column (calos side by side)' });
   Object.assign(m.fYaxis, { fXmin: 0, fXmax: MAP_NY, fTitle: 'crystal row (calos 1-6 at the top)' });
   const profile = h._typename === 'TProfile';
   let entries = 0;
   for (let ch = 0; ch < N_XTALS; ++ch) {
      const calo = Math.floor(ch / XTALS_PER_CALO) + 1, xtal = ch % XTALS_PER_CALO;
      const ix = xtal % XTAL_COLS, iy = Math.floor(xtal / XTAL_COLS);
      const binx = ((calo - 1) % MAP_CALO_COLS) * XTAL_COLS + ix + 1;
      const biny = MAP_NY - (Math.floor((calo - 1) / MAP_CALO_COLS) * XTAL_ROWS + iy);
      let v = h.fArray[ch + 1];
      if (profile)
         v = h.fBinEntries[ch + 1] > 0 ? v / h.fBinEntries[ch + 1] : 0;
      m.fArray[biny * (MAP_NX + 2) + binx] = v;
      entries += 1;
   }
   m.fEntries = entries;
   return m;
}

/**
 * Draws a calorimeter map and calls onCrystal({calo, xtal, ix, iy, binx, biny, value})
 * when the user clicks a drawn bin. The object may be
 *  - a per-crystal TH1/TProfile with 1296 bins (bin = channel id + 1, e.g.
 *    merge/xtalHits, calo/pedestalRMS, laser/outOfFill): drawn as the map of all 24
 *    calorimeters (6 x 4, calos 1-6 on top, crystal row 0 at the top of each);
 *  - a TH2 of 54 x 24 bins laid out the same way;
 *  - a TH2 of 9 x 6 bins, one calorimeter (options.calo, row 0 at the top);
 *  - any other TH2: onCrystal gets only {binx, biny, value}.
 * Clicks come from JSROOT's frame click handler (painter.configureUserClickHandler),
 * which reports the bin under the pointer when it is drawn (empty bins are not).
 * options: { option (default 'colz;nostat'), title, calo }.
 */
export function drawCaloMap(div, fileUrl, objPath, onCrystal, { option = 'colz;nostat', title, calo } = {}) {
   return guarded(div, `${objPath} map`, async (el, { core, draw }) => {
      let h = await readObject(fileUrl, objPath);
      if (isHist(h, 1)) {
         need(h.fXaxis.fNbins === N_XTALS, `${objPath} has ${h.fXaxis.fNbins} bins, not one per crystal (${N_XTALS})`);
         h = mapOfChannels(core, h);
      }
      need(isHist(h, 2), `${objPath} is a ${h._typename}, not a map`);
      if (title !== undefined)
         h.fTitle = title;
      const nx = h.fXaxis.fNbins, ny = h.fYaxis.fNbins;
      const locate = (binx, biny) => {
         if (nx === MAP_NX && ny === MAP_NY)
            return crystalOfMapBin(binx, biny);
         if (nx === XTAL_COLS && ny === XTAL_ROWS) {
            const ix = binx - 1, iy = XTAL_ROWS - biny;
            return { calo, xtal: iy * XTAL_COLS + ix, ix, iy };
         }
         return {};
      };
      const painter = await draw.draw(el, h, option);
      need(painter, `JSROOT cannot draw ${h._typename}`);
      painter.configureUserClickHandler(info => {
         if (!info || !Number.isInteger(info.binx) || !Number.isInteger(info.biny))
            return false;
         const where = { ...locate(info.binx, info.biny), binx: info.binx, biny: info.biny, value: info.cont };
         try {
            onCrystal?.(where);
         } catch (e) {
            console.error('hist.js: onCrystal failed:', e);
         }
         return false; // keep JSROOT's own handling (selection)
      });
      return painter;
   });
}
